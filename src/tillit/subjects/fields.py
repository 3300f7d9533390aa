"""What a person's details may be, wherever a form takes them (sign-up, contact, rights):
a name of letters without control characters, an e-mail address an e-mail header carries as
typed, and a phone number valid for the chosen country."""

from __future__ import annotations

import unicodedata

import phonenumbers
from django import forms
from django.utils.translation import gettext_lazy as _
from email_validator import EmailNotValidError, validate_email

from tillit import datamap
from tillit.core.mail import header_safe

# Zero-width non-joiner and joiner: format characters that belong in Persian and Indic names
# ("محمدی‌نژاد"). Every other control or format character (line breaks, bidi overrides)
# is refused.
JOINERS = "\u200c\u200d"


def valid_name(typed: str) -> str:
    name = unicodedata.normalize("NFC", typed).strip()
    if any(unicodedata.category(ch).startswith("C") and ch not in JOINERS for ch in name):
        raise forms.ValidationError(_("A name cannot contain control characters."))
    if not any(ch.isalpha() for ch in name):
        raise forms.ValidationError(_("Please write your name with letters."))
    return name


def valid_phone(typed: str, country: str) -> str:
    """The number in E.164 form, or a ValidationError."""
    try:
        number = phonenumbers.parse(typed, datamap.iso_country(country))
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise forms.ValidationError(
            _("That is not a valid phone number for the country you chose.")
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def valid_email(typed: str) -> str:
    """The address, normalised, or a ValidationError in the visitor's language. An address
    that an e-mail's To header would not carry as it is (an RFC 2047 encoded-word, which is
    decoded on the way into the header) is refused too."""
    try:
        address = validate_email(typed.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        address = ""
    if not header_safe(address):
        raise forms.ValidationError(
            _("That does not look like an e-mail address. Check it and try again.")
        )
    return address
