"""tillit's OpenDSR client: the shape of a rights request as a partner receives it, and the
signed transport between tillit and a partner's rights API.

Every call tillit makes is signed with the partner's shared secret over the raw body (or, for a
GET or DELETE, over "METHOD <path>") with the purpose `dsr`; every answer must carry the
partner's signature with the purpose `dsr-response` and be a JSON object. The fan-out
(rights/fanout.py), the export's fetch of a partner's results (rights/export.py) and the
console's check of a partner's discovery document all speak through these few functions; the
partner check (conformance/) builds its test requests with `request_body` too.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.conf import settings

from tillit.datamap import Kind
from tillit.partners import signing

if TYPE_CHECKING:
    import httpx

    from tillit.partners.models import Partner

PREFIX = "/opendsr/v2"
OPENDSR_TYPES = {Kind.ACCESS: "access", Kind.PORTABILITY: "portability", Kind.ERASURE: "erasure"}


class PartnerError(Exception):
    """A partner's rights API answered something tillit cannot take (a status, a shape)."""


def headers(partner: Partner, signed: bytes) -> dict[str, str]:
    """The headers of a call to `partner`: its signature over `signed`, and the body's type."""
    return {
        signing.HEADER: signing.sign(partner.secrets(), signed, purpose="dsr"),
        "Content-Type": "application/json",
    }


def checked(partner: Partner, response: httpx.Response, purpose: str) -> dict[str, Any]:
    """The answer's JSON object, once its signature for `purpose` holds."""
    signing.verify(
        partner.secrets(), response.content, response.headers.get(signing.HEADER), purpose=purpose
    )
    data = json.loads(response.content)
    if not isinstance(data, dict):
        raise PartnerError("answer is not a JSON object")
    return data


def get(client: httpx.Client, partner: Partner, path: str) -> dict[str, Any]:
    """GET `path` under the partner's OpenDSR prefix: a signed 200 answer, or PartnerError."""
    response = client.get(
        partner.endpoint + PREFIX + path,
        headers=headers(partner, f"GET {PREFIX}{path}".encode()),
        timeout=settings.DELIVERY_TIMEOUT_SECONDS,
    )
    if response.status_code != 200:
        raise PartnerError(f"GET {path} answered {response.status_code}")
    return checked(partner, response, "dsr-response")


def request_body(
    request_id: str,
    kind: str,
    subject_ref: str,
    *,
    submitted_time: str,
    callback_url: str,
    changes: dict[str, Any] | None = None,
    regulation: str = "gdpr",
) -> dict[str, Any]:
    """A rights request as a partner receives it (OpenDSR 2.0 with tillit's extension): the
    OpenDSR type where there is one, else `extension`; tillit's own type always in
    `extensions.tillit`, with a rectification's `changes`. `regulation` is the person's law's
    (the data map's [laws] regulation: gdpr or ccpa)."""
    extension: dict[str, Any] = {"tillit_request_type": str(kind)}
    if changes is not None:
        extension["changes"] = changes
    return {
        "regulation": regulation,
        "subject_request_id": request_id,
        "subject_request_type": OPENDSR_TYPES.get(kind, "extension"),
        "submitted_time": submitted_time,
        "subject_identities": [
            {
                "identity_type": "controller_customer_id",
                "identity_value": subject_ref,
                "identity_format": "raw",
            }
        ],
        "api_version": "2.0",
        "status_callback_urls": [callback_url],
        "extensions": {"tillit": extension},
    }
