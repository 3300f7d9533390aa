"""Keyed blind indexes: find a person by e-mail or phone without storing either.

The index is HMAC-SHA256 under the keyring's index key of the normalised value, so equal
addresses match while the column reveals nothing without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata

import phonenumbers

from tillit.vault import keys
from tillit.vault.pii import Pii


def normalise_email(email: str) -> str:
    """Trimmed, composed (NFC, as the sign-up form's e-mail validation leaves an address) and
    lower-cased: the two Unicode spellings of 'å' are one address, and so one index."""
    return unicodedata.normalize("NFC", email.strip()).lower()


def normalise_phone(phone: str, country: str = "") -> str:
    """E.164 form (+4791234567); the input must already be a valid number."""
    # A state's code ("US-CA") reads numbers as its country's.
    number = phonenumbers.parse(phone, country.upper().split("-", 1)[0] or None)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _index(kind: str, normalised: str) -> str:
    key = keys.load().index_key
    return hmac.new(key, f"{kind}:{normalised}".encode(), hashlib.sha256).hexdigest()


def email_index(email: Pii) -> str:
    return _index("email", normalise_email(email.reveal()))


def phone_index(phone: Pii, country: str = "") -> str:
    return _index("phone", normalise_phone(phone.reveal(), country))
