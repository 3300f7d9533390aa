"""The partner conformance suite: `tillit partner-check`, and the API it is built on.

    report = run("https://partner.example/tillit", [secret])   # any endpoint
    report = run_for(partner)                                   # a registered partner
    report.passed, report.results, report.as_dict(), report.text()

It sends real, signed test traffic to the endpoint, as tillit itself would send it: leads
(new, repeated, raced, conflicting, badly signed, stale, malformed), each rights request type,
messages, and when the partner is a witness of the consent log, checkpoints. It checks every
answer against the protocol (docs/partners.md, openapi.json) and reports each check as passed,
failed (with what was sent, what came back and what the protocol requires) or skipped (with
why). It sends no personal data: every lead is a test identity at partner-check.invalid with
`"test": true`, and at the end each one is erased with an erasure request, so the partner
keeps nothing from a check. The partner's status callbacks come to a small listener of its
own (`listen`); `callback_url` is the address the partner is given for it.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from tillit import datamap

# The modules of checks register them, in the order of each stage (the order imported here,
# so none of them imports another).
from tillit.partners.conformance import (  # noqa: F401
    afterwards,
    callbacks,
    cleanup,
    leads,
    messages,
    rights,
)
from tillit.partners.conformance import witness as witness_checks  # noqa: F401
from tillit.partners.conformance.answers import Failed, Skipped
from tillit.partners.conformance.listener import Listener
from tillit.partners.conformance.registry import (
    CHECKS,
    FIRST,
    MAIN,
    RIGHTS,
    STAGES,
    WITNESS,
    Check,
)
from tillit.partners.conformance.report import FAIL, PASS, SKIP, Report, Result
from tillit.partners.conformance.session import Session
from tillit.partners.conformance.witness import WitnessTarget

if TYPE_CHECKING:
    from tillit.audit.models import Witness
    from tillit.partners.models import Partner

__all__ = [
    "CHECK_IDS",
    "FAIL",
    "PASS",
    "SKIP",
    "Report",
    "Result",
    "WitnessTarget",
    "registered_witness",
    "run",
    "run_for",
]

log = logging.getLogger("tillit.partners.conformance")
ORDERED = sorted(CHECKS, key=lambda c: STAGES.index(c.stage))  # stable: registration order kept
CHECK_IDS = tuple(c.id for c in ORDERED)
CONCURRENCY = 8


def run(
    endpoint: str,
    secrets: Sequence[bytes],
    *,
    witness: Witness | WitnessTarget | None = None,
    callback_url: str | None = None,
    listen: tuple[str, int] | None = None,
    wait_seconds: float = 30,
    timeout: float | None = None,
    rights_api: bool = True,
    country: str = "NO",
    checks: Collection[str] | None = None,
) -> Report:
    """Check the partner at `endpoint`, which shares `secrets` (the current one first; two
    while rotating) with tillit.

    `witness`: the partner's witness of the consent log (a Witness row, or a WitnessTarget
    for another log), or None to skip the witness checks. `listen` (default 127.0.0.1 and a
    free port) is where the callback listener listens, `callback_url` (default the listener's
    own URL) what the partner is told to call back. `wait_seconds` bounds each wait for a
    request to be carried out and for the callbacks; `timeout` (default
    TILLIT_DELIVERY_TIMEOUT_SECONDS) is how long an answer may take. `rights_api=False` skips
    the rights checks (the partner gets its requests by e-mail). `country` is the test leads'
    country. `checks` runs only the checks with these ids (CHECK_IDS lists them all), and
    `cleanup`, which erases the test identities they sent, always.

    Raises ValueError for an endpoint that is not an http(s) URL, no secret or an unknown
    check id, and OSError when the listener cannot listen; every problem of the partner's is
    a failed check in the report."""
    endpoint = endpoint.rstrip("/")
    _require(endpoint, secrets, checks, callback_url)
    target = (
        WitnessTarget.of(witness)
        if witness is not None and not isinstance(witness, WitnessTarget)
        else witness
    )
    # Whatever is chosen, the test identities sent are erased afterwards.
    selected = [c for c in ORDERED if checks is None or c.id in checks or c.id == "cleanup"]
    keys = [bytes(s) for s in secrets]
    host, port = listen or ("127.0.0.1", 0)
    listener = Listener(host, port, callbacks.verified_callback(keys))
    session = Session(
        endpoint,
        keys,
        timeout=float(timeout if timeout is not None else settings.DELIVERY_TIMEOUT_SECONDS),
        wait_seconds=wait_seconds,
        callback_url=callback_url or listener.url,
        rights_api=rights_api,
        country=country,
    )
    session.witness, session.listener = target, listener
    started = datetime.now(UTC)
    try:
        results = _stages(session, selected)
    finally:
        listener.close()
        session.close()
    return Report(endpoint, started, datetime.now(UTC), [results[c.id] for c in selected])


def run_for(partner: Partner, *, endpoint: str | None = None, **options: Any) -> Report:
    """Check a registered partner: its endpoint (or `endpoint`), the secrets the vault holds
    for it (both while its secret is rotated), its rights API if it has one, and its witness
    checks if it is a witness of the consent log. `options` are run()'s."""
    options.setdefault("witness", registered_witness(partner))
    options.setdefault("rights_api", partner.rights_api)
    if partner.countries:
        # As leads carry it: the ISO 3166-1 country (a state's code, US-CA, is sent as US).
        options.setdefault("country", datamap.iso_country(partner.countries[0]))
    return run(endpoint or partner.endpoint, partner.secrets(), **options)


def registered_witness(partner: Partner | None = None, endpoint: str = "") -> Witness | None:
    """The active witness of the consent log that is this partner's: named as its partner, or
    with its URL under the partner's endpoint (`tillit log witness add` names no partner)."""
    from django.db.models import Q

    from tillit.audit.models import Witness

    base = (endpoint or (partner.endpoint if partner else "")).rstrip("/")
    under = Q(url__startswith=base + "/") if base else Q(pk__in=[])
    mine = Q(partner=partner) if partner is not None else Q(pk__in=[])
    return Witness.objects.filter(active=True).filter(mine | under).order_by("pk").first()


def _require(
    endpoint: str,
    secrets: Sequence[bytes],
    checks: Collection[str] | None,
    callback_url: str | None,
) -> None:
    for name, url in (("endpoint", endpoint), ("callback_url", callback_url or "http://x")):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                _("%(name)s is not an http(s) URL: %(url)s") % {"name": name, "url": url}
            )
    if not secrets or not all(secrets):
        raise ValueError(_("no shared secret"))
    unknown = sorted(set(checks or ()) - set(CHECK_IDS))
    if unknown:
        raise ValueError(_("no such check: %(ids)s") % {"ids": ", ".join(unknown)})


def _stages(session: Session, selected: list[Check]) -> dict[str, Result]:
    """Each stage after the one before: MAIN's checks at once, and meanwhile WITNESS's one
    after the other in this thread (they may read the database)."""
    results: dict[str, Result] = {}
    language = translation.get_language()
    for stage in STAGES:
        if stage == WITNESS:
            continue  # run alongside MAIN
        batch = [c for c in selected if c.stage == stage]
        if stage == FIRST:
            results |= {c.id: _one(session, c) for c in batch}
            continue
        with ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="partner-check") as pool:
            futures = {c.id: pool.submit(_in_language, language, session, c) for c in batch}
            if stage == MAIN:
                for c in (c for c in selected if c.stage == WITNESS):
                    results[c.id] = _one(session, c)
            results |= {check_id: future.result() for check_id, future in futures.items()}
    return results


def _in_language(language: str | None, session: Session, c: Check) -> Result:
    if language is None:
        return _one(session, c)
    with translation.override(language):
        return _one(session, c)


def _one(session: Session, c: Check) -> Result:
    title = str(c.title)
    skip = _why_not(session, c)
    if skip:
        return Result(c.id, title, SKIP, reason=skip)
    try:
        note = c.func(session) or ""
    except Failed as failed:
        scrub = session.scrub
        return Result(
            c.id,
            title,
            FAIL,
            sent=scrub(failed.sent),
            received=scrub(failed.received),
            required=scrub(failed.required),
            detail=scrub(failed.detail),
        )
    except Skipped as skipped:
        return Result(c.id, title, SKIP, reason=session.scrub(str(skipped)))
    except Exception as error:
        # A check that breaks on an answer it did not foresee says so, and the others go on.
        log.exception("partner check %s", c.id)
        return Result(
            c.id,
            title,
            FAIL,
            sent=_("(the check stopped)"),
            received=session.scrub(f"{type(error).__name__}: {error}"[:200]),
            required=_("an answer the check can read"),
        )
    return Result(c.id, title, PASS, detail=session.scrub(note))


def _why_not(session: Session, c: Check) -> str:
    if session.unreachable and c.stage != FIRST:
        return _("the endpoint could not be reached (see healthz)")
    if c.needs == RIGHTS and not session.rights_api:
        return _("the partner has no rights API: its rights requests go by e-mail")
    if c.needs == "witness" and session.witness is None:
        return _("the partner is not a registered witness of the consent log")
    return ""
