from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from tillit.rights.models import Kind
from tillit.site.forms import valid_email


class StartForm(forms.Form):
    kind = forms.ChoiceField(
        choices=Kind.choices,
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Please choose what you want to do."),
            "invalid_choice": _("Please choose one of the options."),
        },
    )
    email = forms.CharField(
        max_length=254,
        error_messages={
            "required": _("Please write the e-mail address you signed up with."),
            "max_length": _("That e-mail address is too long."),
        },
    )

    def clean_email(self) -> str:
        typed = self.cleaned_data["email"].strip()
        valid_email(typed)
        return typed  # exactly as typed: the code goes to this address and no other


class CodeForm(forms.Form):
    code = forms.CharField(
        max_length=12,
        error_messages={"required": _("Please write the 6-digit code from the e-mail.")},
    )
