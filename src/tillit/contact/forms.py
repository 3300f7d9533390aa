from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from tillit import datamap
from tillit.subjects.fields import valid_email, valid_name, valid_phone

MAX_MESSAGE = 4000


class ContactForm(forms.Form):
    name = forms.CharField(max_length=200, required=False, label=_("Name (optional)"))
    email = forms.CharField(max_length=254, required=False, label=_("E-mail"))
    phone = forms.CharField(max_length=40, required=False, label=_("Phone"))
    message = forms.CharField(
        max_length=MAX_MESSAGE,
        label=_("Your message"),
        widget=forms.Textarea(attrs={"rows": 6}),
        error_messages={
            "required": _("Please write your message."),
            "max_length": _("Please keep the message under 4,000 characters."),
        },
    )
    # A field people never see; bots fill it in.
    website = forms.CharField(required=False, max_length=200)

    def is_bot(self) -> bool:
        return bool(self.data.get("website"))

    def clean_name(self) -> str:
        typed = self.cleaned_data["name"]
        return valid_name(typed) if typed.strip() else ""

    def clean_email(self) -> str:
        typed = self.cleaned_data["email"].strip()
        return valid_email(typed) if typed else ""

    def clean_phone(self) -> str:
        typed = self.cleaned_data["phone"].strip()
        if not typed:
            return ""
        return valid_phone(typed, datamap.load().operator["country"])

    def clean_message(self) -> str:
        text = self.cleaned_data["message"].replace("\r\n", "\n").strip()
        if not text:
            raise forms.ValidationError(_("Please write your message."))
        return text

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.errors and not data.get("email") and not data.get("phone"):
            raise forms.ValidationError(
                _("Please give an e-mail address or a phone number, so that we can answer.")
            )
        return data


class ReplyForm(forms.Form):
    reply = forms.CharField(max_length=MAX_MESSAGE, widget=forms.Textarea(attrs={"rows": 8}))
    version = forms.IntegerField(widget=forms.HiddenInput)
