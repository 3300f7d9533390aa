"""The conformance suite run for a partner from the console, by the worker."""

from __future__ import annotations

import logging

from django.conf import settings
from django.tasks import task
from django.utils import translation

log = logging.getLogger("tillit.partners")


@task()
def conformance_check(partner_id: int, actor: str, language: str) -> None:
    """Run the whole suite against the partner's endpoint and keep its report with it (the
    sandbox goes live on the last one). The partner's callbacks come to a listener in this
    process (TILLIT_PARTNER_CHECK_LISTEN), reached at TILLIT_PARTNER_CHECK_CALLBACK_URL."""
    from tillit.audit.models import record
    from tillit.partners import conformance, sandbox
    from tillit.partners.models import Partner

    partner = Partner.objects.filter(pk=partner_id).first()
    if partner is None:
        return  # removed meanwhile: nothing to check
    try:
        with translation.override(language):
            report = conformance.run_for(
                partner,
                callback_url=settings.PARTNER_CHECK_CALLBACK_URL or None,
                listen=settings.PARTNER_CHECK_LISTEN,
            )
    except (ValueError, OSError) as error:
        # Nothing was sent (a bad endpoint, no secret, no port to listen on): no report.
        log.warning("conformance check of %s not run: %s", partner.slug, error)
        record(
            "partner.conformance_not_run",
            actor=actor,
            target=f"partner:{partner.slug}",
            reason=error.__class__.__name__,
        )
        return
    sandbox.record(partner, report.as_dict(), actor=actor)
