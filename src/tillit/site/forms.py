"""The sign-up form, built from the data map: only declared fields are read (P5)."""

from __future__ import annotations

import copy
from typing import Any

from django import forms
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from tillit import datamap
from tillit.datamap.countries import country_choices
from tillit.subjects.fields import valid_email, valid_name, valid_phone
from tillit.subjects.signup import Signup
from tillit.vault.pii import Pii

NAME_MAX = 200


class SignupForm(forms.Form):
    """Field names are fixed: name, email, phone, country, consent_partner, consent_offers."""

    name = forms.CharField(
        max_length=NAME_MAX,
        error_messages={
            "required": _("Please write your name."),
            "max_length": _("A name can be at most 200 characters."),
        },
    )
    email = forms.CharField(
        max_length=254,
        error_messages={
            "required": _("Please write your e-mail address."),
            "max_length": _("That e-mail address is too long."),
        },
    )
    phone = forms.CharField(
        max_length=40,
        required=False,
        error_messages={
            "max_length": _("That phone number is too long."),
        },
    )
    country = forms.ChoiceField(
        choices=(),
        error_messages={
            "required": _("Please choose your country."),
            "invalid_choice": _("Please choose a country from the list."),
        },
    )
    # A field people never see; bots fill it in.
    website = forms.CharField(required=False, max_length=200)

    # Set on the form made for a data map and a language (signup_form).
    datamap: datamap.DataMap
    shared_fields: dict[str, forms.Field] = {}

    def __init__(self, data: Any = None) -> None:
        super().__init__(data)
        if self.shared_fields:
            # Django deep-copies a form's fields for each instance, in case one changes them;
            # these are made once per data map and language and nothing changes them, so each
            # form holds the same field objects (the copy was a seventh of a sign-up's CPU).
            self.fields = dict(self.shared_fields)

    def is_bot(self) -> bool:
        return bool(self.data.get("website"))

    def clean_name(self) -> str:
        return valid_name(self.cleaned_data["name"])

    def clean_email(self) -> str:
        return valid_email(self.cleaned_data["email"])

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        phone, country = data.get("phone", "").strip(), data.get("country")
        if phone and country:
            data["phone"] = self._clean_phone(phone, country)
        return data

    def _clean_phone(self, phone: str, country: str) -> str:
        try:
            return valid_phone(phone, country)
        except forms.ValidationError as error:
            self.add_error("phone", error)
            return ""

    def signup(self, language: str, gpc: bool = False) -> Signup:
        """`gpc`: the browser sent Global Privacy Control (an opt-out of sale or sharing where
        the person's law says so, P33)."""
        data = self.cleaned_data
        return Signup(
            name=Pii(data["name"]),
            email=Pii(data["email"]),
            phone=Pii(data["phone"]) if data.get("phone") else None,
            country=data["country"],
            consents={p.id: bool(data.get(p.field)) for p in self.datamap.consent_purposes()},
            language=language,
            gpc=gpc,
        )


# One form class per data map and language, made on first use: its labels, country names and
# consent boxes come from the data map and are the same for every request.
_classes: dict[tuple[int, str], type[SignupForm]] = {}


def signup_form(data: Any = None) -> SignupForm:
    """The sign-up form for the data map in force and the visitor's language."""
    dm, lang = datamap.load(), (get_language() or "nb")[:2]
    key = (id(dm), lang)
    form_class = _classes.get(key)
    if form_class is None:
        if len(_classes) >= 8:
            _classes.clear()  # the data map was replaced: the old classes go with it
        form_class = _classes[key] = _form_class(dm)
    return form_class(data)


def _form_class(dm: datamap.DataMap) -> type[SignupForm]:
    fields: dict[str, forms.Field] = {}
    for key, field in dm.fields.items():
        if key in SignupForm.base_fields:
            fields[key] = copy.deepcopy(SignupForm.base_fields[key])
            fields[key].label = str(field.label)
    country = fields.setdefault("country", copy.deepcopy(SignupForm.base_fields["country"]))
    country.choices = country_choices(dm.countries)  # type: ignore[attr-defined]
    for purpose in dm.consent_purposes():
        fields[purpose.field] = forms.BooleanField(
            required=purpose.required,
            label=str(purpose.consent_text),
            error_messages={"required": _("This consent is needed to refer you to a partner.")},
        )
    form_class = type("SignupForm", (SignupForm,), {**fields, "datamap": dm})
    form_class.shared_fields = form_class.base_fields
    form_class.base_fields = {}
    return form_class
