"""A partner checked from the console: agreements on record, its service up, and its rights
API answering a signed discovery with a valid signature."""

from __future__ import annotations

from django.conf import settings

from tillit.partners import signing
from tillit.partners.models import Partner
from tillit.rights import fanout


def run(partner: Partner) -> list[tuple[bool, str]]:
    found: list[tuple[bool, str]] = []
    if partner.has_agreements():
        found.append((True, f"DPA signed {partner.dpa_signed_on}, compliance attested"))
    else:
        found.append((False, "no DPA or compliance date on record: it receives nothing"))
    if not partner.endpoint_is_safe():
        found.append((False, "the endpoint is not https"))
    import httpx  # here, not at start: a web process has no use for it until asked

    timeout = min(settings.DELIVERY_TIMEOUT_SECONDS, 5)
    with httpx.Client(timeout=timeout) as client:
        try:
            health = client.get(partner.endpoint + "/healthz")
            found.append((health.status_code == 200, f"/healthz answered {health.status_code}"))
        except httpx.HTTPError as error:
            found.append((False, f"not reachable ({type(error).__name__})"))
            return found
        if not partner.rights_api:
            found.append((bool(partner.privacy_email), "rights requests go by e-mail"))
            return found
        try:
            discovery = fanout._get(client, partner, "/discovery")
            kinds = ", ".join(discovery.get("supported_subject_request_types", []))
            found.append((True, f"signed discovery OK (OpenDSR {discovery.get('api_version')}: "
                                f"{kinds})"))  # fmt: skip
        except (httpx.HTTPError, signing.SignatureError, fanout.PartnerError, ValueError) as error:
            found.append((False, f"discovery failed: {error}"))
    return found
