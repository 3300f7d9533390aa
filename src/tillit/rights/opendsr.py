"""The signed OpenDSR transport between tillit and a partner's rights API.

Every call tillit makes is signed with the partner's shared secret over the raw body (or, for a
GET or DELETE, over "METHOD <path>") with the purpose `dsr`; every answer must carry the
partner's signature with the purpose `dsr-response` and be a JSON object. The fan-out
(fanout.py), the export's fetch of a partner's results (export.py) and the console's check of a
partner's discovery document all speak through these few functions.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.conf import settings

from tillit.partners import signing

if TYPE_CHECKING:
    import httpx

    from tillit.partners.models import Partner

PREFIX = "/opendsr/v2"


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
