"""Messages the partner delivers to a person it holds (offers, notices the law requires):
`POST <endpoint>/messages`, signed with the purpose `message`, answered with a receipt signed
with `message-receipt` (docs/partners.md)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.conf import settings

from tillit.partners import signing
from tillit.partners.models import Partner

if TYPE_CHECKING:
    import httpx

GONE = (404, 410)  # the partner holds nobody by that reference, or may not send to them


class Refused(Exception):
    pass


def post(client: httpx.Client, partner: Partner, message: dict[str, Any]) -> int:
    """Send one message; return the partner's status (200/201 with a valid receipt, or one of
    GONE, signed as a receipt too). Raises httpx.HTTPError, or Refused for any other answer or
    a bad receipt. An unsigned 404 or 410 (a proxy's error page, or anyone on the path) is
    refused like any bad answer: it would otherwise end a notice the law requires, for good."""
    raw = json.dumps(message, sort_keys=True, separators=(",", ":")).encode()
    response = client.post(
        partner.endpoint + "/messages",
        content=raw,
        headers={
            "Content-Type": "application/json",
            signing.HEADER: signing.sign(partner.secrets(), raw, purpose="message"),
            signing.IDEMPOTENCY_HEADER: str(message["message_id"]),
        },
        timeout=settings.DELIVERY_TIMEOUT_SECONDS,
    )
    if response.status_code not in (200, 201, *GONE):
        raise Refused(f"partner answered HTTP {response.status_code}")
    try:
        signing.verify(
            partner.secrets(),
            response.content,
            response.headers.get(signing.HEADER),
            purpose="message-receipt",
        )
        receipt = json.loads(response.content)
    except (signing.SignatureError, ValueError) as error:
        raise Refused(f"receipt refused: {error}") from None
    if response.status_code in GONE:
        return response.status_code
    if receipt.get("message_id") != str(message["message_id"]):
        raise Refused("receipt refused: it is for another message")
    return response.status_code
