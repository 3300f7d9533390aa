"""What tillit sends a partner, as typed values, and the parsing that refuses anything else.

Each `parse_*` takes a body whose signature was already verified and returns a frozen value or
raises `Invalid` with the HTTP status the protocol gives that kind of mistake (400: not the
thing at all, 422: the thing with a missing or mistyped field) and a reason that names fields,
never their values: a refusal may be logged, and a lead's values are personal data.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# OpenDSR 2.0's own request types, and tillit's, which travel as `extension` with the type in
# extensions.tillit.tillit_request_type.
OPENDSR_TYPES = ("access", "portability", "erasure")
TILLIT_TYPES = ("rectification", "withdraw", "stop_offers", "restriction", "objection")
REQUEST_TYPES = OPENDSR_TYPES + TILLIT_TYPES
# The fields a rectification may correct: the partner holds them, tillit does not.
CORRECTABLE = ("name", "phone", "country")
# The consent purpose that offers rest on; `stop_offers` withdraws it alone.
OFFERS = "offers"


class Invalid(Exception):
    """A body that is not what the protocol sends: `status` is the answer it gets."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass(frozen=True)
class Consent:
    """One consent of the person as tillit recorded it (given or withdrawn), with its proof."""

    purpose: str
    action: str
    at: str = ""
    lawful_basis: str = ""
    policy_version: str = ""
    text_hash: str = ""
    receipt_id: str = ""

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v or k in ("purpose", "action")}


@dataclass(frozen=True)
class Lead:
    """A person referred to the partner. `test` is set only by the conformance suite's traffic
    (`tillit partner-check`): such a lead holds no real person and may be discarded."""

    lead_id: str
    subject_ref: str
    name: str
    email: str
    country: str
    consents: tuple[Consent, ...]
    phone: str | None = None
    language: str = "nb"
    confirmed_at: str | None = None
    test: bool = False

    def offers_allowed(self, consents: tuple[Consent, ...] | None = None) -> bool:
        """Whether the latest consent to offers is given (the given `consents`, or the lead's
        own as received)."""
        held = self.consents if consents is None else consents
        offers = [c for c in held if c.purpose == OFFERS]
        return bool(offers) and offers[-1].action == "given"


@dataclass(frozen=True)
class DsrRequest:
    """A rights request in OpenDSR 2.0's shape; `type` is tillit's type for an extension."""

    request_id: str
    type: str
    subject_ref: str
    submitted_time: str = ""
    callback_urls: tuple[str, ...] = ()
    changes: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Message:
    """A message for a person the partner holds: an offer, or a notice the law requires (which
    is delivered whatever the person's consent to offers)."""

    message_id: str
    subject_ref: str
    title: str
    text: str
    valid_until: str
    opt_out_url: str
    kind: str = "offer"
    language: str = ""

    @property
    def is_offer(self) -> bool:
        return self.kind != "notice"


def json_object(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Invalid(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise Invalid(400, "the body is not a JSON object")
    return data


def uuid_text(value: object, name: str, status: int = 400) -> str:
    """A UUID in its canonical text (tillit's ids are UUIDs)."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise Invalid(status, f"{name} is not a UUID") from None


REQUIRED = ("lead_id", "subject_ref", "name", "email", "country", "consents")
TEXT = ("subject_ref", "name", "email", "country")
OPTIONAL_TEXT = ("phone", "language", "confirmed_at")


def parse_lead(raw: bytes) -> Lead:
    """A lead (the partner API's Lead): 400 when the body is not a lead at all, 422 when a field
    is missing or of the wrong type. A stored field must have the type it is read back as: a
    consent that is not an object would break every later message and rights request."""
    data = json_object(raw)
    if "lead_id" not in data:
        raise Invalid(400, "the body is not a lead")
    lead_id = uuid_text(data["lead_id"], "lead_id")
    missing = [k for k in REQUIRED if not data.get(k)]
    if missing:
        raise Invalid(422, f"missing: {', '.join(missing)}")
    wrong = [k for k in TEXT if not isinstance(data[k], str)]
    wrong += [k for k in OPTIONAL_TEXT if not isinstance(data.get(k), str | None)]
    if not isinstance(data.get("test", False), bool):
        wrong.append("test")
    consents = _consents(data["consents"])
    if consents is None:
        wrong.append("consents")
    if wrong:
        raise Invalid(422, f"wrong type: {', '.join(wrong)}")
    assert consents is not None
    return Lead(
        lead_id=lead_id,
        subject_ref=data["subject_ref"],
        name=data["name"],
        email=data["email"],
        country=data["country"],
        consents=consents,
        phone=data.get("phone") or None,
        language=data.get("language") or "nb",
        confirmed_at=data.get("confirmed_at"),
        test=data.get("test", False),
    )


def _consents(value: object) -> tuple[Consent, ...] | None:
    if not isinstance(value, list):
        return None
    consents = []
    for item in value:
        if not isinstance(item, dict) or not all(
            isinstance(item.get(k), str) for k in ("purpose", "action")
        ):
            return None
        known = {k: str(v) for k, v in item.items() if k in Consent.__dataclass_fields__}
        consents.append(Consent(**known))
    return tuple(consents)


def parse_request(raw: bytes) -> DsrRequest:
    """An OpenDSR request as tillit sends it (rights/fanout.py body()); 400 for anything else,
    including a type this library does not know."""
    data = json_object(raw)
    try:
        request_id = uuid_text(data["subject_request_id"], "subject_request_id")
        kind = str(data["subject_request_type"])
        extension = (data.get("extensions") or {}).get("tillit") or {}
        if kind == "extension":
            kind = str(extension["tillit_request_type"])
        (identity,) = [
            i for i in data["subject_identities"] if i["identity_type"] == "controller_customer_id"
        ]
        subject_ref = str(identity["identity_value"])
        callbacks = _callback_urls(data.get("status_callback_urls"))
        changes = extension.get("changes")
    except (KeyError, TypeError, AttributeError, ValueError):
        raise Invalid(400, "not an OpenDSR request this partner understands") from None
    if kind not in REQUEST_TYPES:
        raise Invalid(400, f"unsupported request type {kind!r}")
    if changes is not None and not isinstance(changes, dict):
        raise Invalid(400, "extensions.tillit.changes must be an object")
    if changes is not None:
        changes = {k: str(v) for k, v in changes.items() if k in CORRECTABLE}
    return DsrRequest(
        request_id=request_id,
        type=kind,
        subject_ref=subject_ref,
        submitted_time=str(data.get("submitted_time") or ""),
        callback_urls=callbacks,
        changes=changes,
    )


# tillit names one callback URL; a few more are allowed, not a flood of them.
MAX_CALLBACK_URLS = 4


def _callback_urls(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if (
        not isinstance(value, list)
        or len(value) > MAX_CALLBACK_URLS
        or not all(isinstance(u, str) and u.startswith(("http://", "https://")) for u in value)
    ):
        raise ValueError("status_callback_urls")
    return tuple(value)


MESSAGE_TEXT = ("title", "text", "valid_until", "opt_out_url")


def parse_message(raw: bytes) -> Message:
    data = json_object(raw)
    try:
        message_id = uuid_text(data["message_id"], "message_id")
        fields = {k: str(data[k]) for k in MESSAGE_TEXT}
        subject_ref = str(data["subject_ref"])
    except KeyError:
        raise Invalid(400, "not a message") from None
    kind = str(data.get("kind") or "offer")
    if kind not in ("offer", "notice"):
        raise Invalid(422, "kind must be offer or notice")
    return Message(
        message_id=message_id,
        subject_ref=subject_ref,
        kind=kind,
        language=str(data.get("language") or ""),
        **fields,
    )
