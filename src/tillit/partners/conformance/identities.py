"""The test identities a partner check sends, and the bodies that carry them.

Everything sent is a test identity: the name "Partner Check", an address at
partner-check.invalid (a domain that can never exist), no phone, a random subject_ref, and
`"test": true` on every lead. Bodies are encoded as tillit encodes them, so the bytes signed
are the bytes tillit would sign.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from secrets import token_hex
from typing import Any

NAME = "Partner Check"
DOMAIN = "partner-check.invalid"
# Phone numbers 555-0100 to 555-0199 are set aside for fiction in every North American area
# code: a correction's new number that reaches nobody.
PHONE = "+12025550143"


@dataclass(frozen=True)
class Lead:
    """A test lead: its id, the identity it carries and the exact bytes sent."""

    data: dict[str, Any]

    @property
    def lead_id(self) -> str:
        return str(self.data["lead_id"])

    @property
    def subject_ref(self) -> str:
        return str(self.data["subject_ref"])

    @property
    def email(self) -> str:
        return str(self.data["email"])

    @property
    def body(self) -> bytes:
        return encode(self.data)

    def changed(self, **fields: Any) -> Lead:
        """The same lead_id and person with other values."""
        return Lead({**self.data, **fields})

    def without(self, name: str) -> Lead:
        return Lead({k: v for k, v in self.data.items() if k != name})


def encode(data: object) -> bytes:
    """JSON as tillit sends it: sorted keys, no spaces."""
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def new_lead(country: str) -> Lead:
    """A lead for a new test identity in `country`, with consent to referral and to offers."""
    at = now()
    consents = [
        {
            "purpose": purpose,
            "action": "given",
            "lawful_basis": "consent",
            "policy_version": "partner-check",
            "text_hash": hashlib.sha256(f"partner-check {purpose}".encode()).hexdigest(),
            "receipt_id": str(uuid.uuid4()),
            "at": at,
        }
        for purpose in ("referral", "offers")
    ]
    return Lead(
        {
            "lead_id": str(uuid.uuid4()),
            "subject_ref": str(uuid.uuid4()),
            "name": NAME,
            "email": f"check-{token_hex(6)}@{DOMAIN}",
            "phone": None,
            "country": country,
            "language": "en",
            "confirmed_at": at,
            "consents": consents,
            "test": True,
        }
    )


def message(subject_ref: str, kind: str = "offer") -> dict[str, Any]:
    """A test message of `kind` (an offer, or a notice) to the person `subject_ref`."""
    offer = kind == "offer"
    return {
        "message_id": str(uuid.uuid4()),
        "subject_ref": subject_ref,
        "language": "en",
        "kind": kind,
        "title": "Partner check: a test " + kind,
        "text": "A test message from tillit partner-check. Its address is at "
        + DOMAIN
        + ", which reaches nobody.",
        "valid_until": datetime.now(UTC).date().isoformat() if offer else "",
        "opt_out_url": f"https://{DOMAIN}/opt-out" if offer else "",
    }
