"""A partner checked from the console: agreements on record, its service up, and its rights
API answering a signed discovery with a valid signature."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext as _

from tillit.partners import opendsr, signing
from tillit.partners.models import Partner


def run(partner: Partner) -> list[tuple[bool, str]]:
    found: list[tuple[bool, str]] = []
    if partner.has_agreements():
        signed = _("DPA signed %(date)s, compliance attested") % {"date": partner.dpa_signed_on}
        found.append((True, signed))
    else:
        found.append((False, _("no DPA or compliance date on record: it receives nothing")))
    if not partner.endpoint_is_safe():
        found.append((False, _("the endpoint is not https")))
    import httpx  # here, not at start: a web process has no use for it until asked

    timeout = min(settings.DELIVERY_TIMEOUT_SECONDS, 5)
    with httpx.Client(timeout=timeout) as client:
        try:
            health = client.get(partner.endpoint + "/healthz")
            answered = _("/healthz answered %(status)s") % {"status": health.status_code}
            found.append((health.status_code == 200, answered))
        except httpx.HTTPError as error:
            found.append((False, _("not reachable (%(error)s)") % {"error": type(error).__name__}))
            return found
        if not partner.rights_api:
            found.append((bool(partner.privacy_email), _("rights requests go by e-mail")))
            return found
        try:
            discovery = opendsr.get(client, partner, "/discovery")
            kinds = ", ".join(discovery.get("supported_subject_request_types", []))
            ok = _("signed discovery OK (OpenDSR %(version)s: %(kinds)s)")
            found.append((True, ok % {"version": discovery.get("api_version"), "kinds": kinds}))
        except (httpx.HTTPError, signing.SignatureError, opendsr.PartnerError, ValueError) as error:
            found.append((False, _("discovery failed: %(error)s") % {"error": error}))
    return found
