from __future__ import annotations

import unicodedata
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from tillit import datamap
from tillit.datamap import Kind
from tillit.datamap.countries import country_choices
from tillit.subjects.fields import valid_email, valid_name, valid_phone


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
        # Composed (NFC), as the sign-up form keeps an address: 'å' typed as 'a' and a
        # combining ring is the address Kari signed up with. Otherwise as typed (case too):
        # the code goes to this address and no other.
        typed = unicodedata.normalize("NFC", self.cleaned_data["email"].strip())
        valid_email(typed)
        return typed


class CodeForm(forms.Form):
    code = forms.CharField(
        max_length=12,
        error_messages={"required": _("Please write the 6-digit code from the e-mail.")},
    )


class RectifyForm(forms.Form):
    """What is wrong, corrected: only the fields given are changed (at least one)."""

    name = forms.CharField(max_length=200, required=False)
    phone = forms.CharField(max_length=40, required=False)
    country = forms.ChoiceField(choices=(), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        dm = datamap.load()
        for key in ("name", "phone", "country"):
            self.fields[key].label = str(dm.fields[key].label)
        self.fields["country"].choices = country_choices(dm.countries)
        self.fields["country"].error_messages["invalid_choice"] = _(
            "Please choose a country from the list."
        )

    def clean_name(self) -> str:
        typed = self.cleaned_data["name"]
        return valid_name(typed) if typed.strip() else ""

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("phone", "").strip():
            try:
                country = data.get("country") or datamap.load().operator["country"]
                data["phone"] = valid_phone(data["phone"], country)
            except forms.ValidationError as error:
                self.add_error("phone", error)
        if not any(data.get(k) for k in ("name", "phone", "country")) and not self.errors:
            raise forms.ValidationError(_("Write at least one thing to correct."))
        return data

    def changes(self) -> dict[str, str]:
        return {k: v for k, v in self.cleaned_data.items() if v}


class PortabilityForm(forms.Form):
    """Art. 20(2): optionally, a company to send the data to directly, on the person's
    confirmed instruction."""

    recipient_name = forms.CharField(
        max_length=200, required=False, label=_("Company to send a copy to (optional)")
    )
    recipient_email = forms.CharField(
        max_length=254, required=False, label=_("The company's e-mail address for this")
    )
    confirm_transfer = forms.BooleanField(
        required=False, label=_("Yes, send a copy of my data to this company.")
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        name = data.get("recipient_name", "").strip()
        address = data.get("recipient_email", "").strip()
        if not name and not address and not self.errors:
            return data
        # A field refused already (too long, a NUL) was written: say only what is wrong with it.
        if not name and "recipient_name" not in self.errors:
            self.add_error("recipient_name", _("Please write the company's name."))
        elif any(unicodedata.category(ch).startswith("C") for ch in name):
            self.add_error("recipient_name", _("A name cannot contain control characters."))
        if not address:
            if "recipient_email" not in self.errors:
                self.add_error("recipient_email", _("Please write the company's e-mail address."))
        else:
            try:
                valid_email(address)
            except forms.ValidationError as error:
                self.add_error("recipient_email", error)
        if not data.get("confirm_transfer"):
            self.add_error(
                "confirm_transfer", _("Please confirm that we may send your data to them.")
            )
        data["recipient_name"], data["recipient_email"] = name, address
        return data

    def changes(self) -> dict[str, str]:
        data = self.cleaned_data
        if not data.get("recipient_email"):
            return {}
        return {k: data[k] for k in ("recipient_name", "recipient_email")}
