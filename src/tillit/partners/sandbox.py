"""The sandbox: a partner in testing receives only the conformance suite's test traffic, and
goes live (active, assigned people) only once its last conformance report passed for its
endpoint and its agreements and signing secret are on record (P18).

A partner in testing is left out of `Partner.objects.compliant()`, which is how everything that
gives a partner real data chooses it: routing, the sign-up form's countries, the privacy
policy's recipients and the cookie banner's third parties. Rights requests, messages and
notices go to the partners that hold a person's data (their deliveries), which a partner that
never went live does not have.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from tillit.audit.models import record as audit
from tillit.core.lifecycle import Refused
from tillit.partners import routing
from tillit.partners.models import Partner, PartnerCheck, PartnerState, move_partner


class CannotGoLive(Exception):
    """Going live refused; `blockers` says why, one sentence each."""

    def __init__(self, blockers: list[str]) -> None:
        super().__init__(" ".join(blockers))
        self.blockers = blockers


def record(partner: Partner, report: dict[str, Any], *, actor: str = "cli") -> PartnerCheck:
    """Keep a conformance report (the suite's `Report.as_dict()`) with the partner. Whether it
    passed is the report's own "passed"; the endpoint is the one it checked."""
    if not isinstance(report, dict) or not isinstance(report.get("passed"), bool):
        raise ValueError("a conformance report is a dict with a boolean 'passed'")
    endpoint = report.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise ValueError("a conformance report names the 'endpoint' it checked")
    with transaction.atomic():
        # Under the partner's row lock, as go_live reads the last report: a report is either
        # before a decision to go live or after it, never beside it.
        Partner.objects.select_for_update().get(pk=partner.pk)
        check = PartnerCheck.objects.create(
            partner=partner, endpoint=endpoint, passed=report["passed"], report=report
        )
        audit(
            "partner.conformance_checked",
            actor=actor,
            target=f"partner:{partner.slug}",
            endpoint=endpoint,
            passed=check.passed,
        )
    return check


def _failed(check: PartnerCheck) -> str:
    names = [
        _("%(id)s (%(title)s)") % {"id": r.get("id", "?"), "title": r.get("title", "")}
        if r.get("title")
        else str(r.get("id", "?"))
        for r in check.failures()
    ]
    when = f"{check.ran_at:%Y-%m-%d %H:%M} UTC"
    if not names:
        return _("The last conformance report (%(when)s) failed.") % {"when": when}
    return _("The last conformance report (%(when)s) failed these checks: %(checks)s.") % {
        "when": when,
        "checks": "; ".join(names),
    }


def go_live_blockers(partner: Partner) -> list[str]:
    """What keeps the partner from going live, one sentence each; empty when nothing does.
    Read from the partner as given (a form's values before they are saved, too)."""
    found = []
    check = partner.last_check()
    if check is None:
        found.append(
            _("There is no conformance report yet: run the conformance suite against the partner.")
        )
    else:
        if not check.passed:
            found.append(_failed(check))
        if not check.checked_endpoint(partner.endpoint):
            found.append(
                _(
                    "The last conformance report checked %(checked)s, not the partner's "
                    "endpoint %(endpoint)s: run it again against this endpoint."
                )
                % {"checked": check.endpoint, "endpoint": partner.endpoint}
            )
    if not partner.dpa_signed_on:
        found.append(_("No data processing agreement is on record (the date it was signed)."))
    if not partner.compliance_attested_on:
        found.append(_("No GDPR compliance attestation is on record (the date of it)."))
    if not partner.secret_envelope_id:
        found.append(_("The partner has no signing secret: rotate its secret to make one."))
    if not partner.endpoint_is_safe():
        found.append(_("The endpoint is not https (http only to this machine)."))
    return found


def go_live(partner: Partner, actor: str) -> bool:
    """Make a partner live (not testing, active), audited, or raise CannotGoLive with the
    blockers. False when it was live already (nothing changes, nothing is recorded)."""
    with transaction.atomic():
        fresh = Partner.objects.select_for_update().get(pk=partner.pk)
        if fresh.state == PartnerState.LIVE:
            return False
        blockers = go_live_blockers(fresh)
        if blockers:
            raise CannotGoLive(blockers)
        check = fresh.last_check()
        move_partner(fresh, "go_live", actor, check=check.pk if check else None)
    partner.testing, partner.active = False, True
    routing.forget_open()
    return True


def to_testing(partner: Partner, actor: str) -> bool:
    """Put a partner (back) in testing, at any time, audited: nobody new is assigned to it.
    The people it already holds stay its own (their queued leads, rights requests and
    messages still reach it). False when it was in testing already."""
    try:
        move_partner(partner, "to_testing", actor)
    except Refused:  # in testing already (or put there meanwhile)
        partner.testing = True
        return False
    routing.forget_open()
    return True


def set_active(partner: Partner, active: bool, actor: str) -> bool:
    """Resume (active) or pause a partner, audited; a paused partner is assigned nobody new.
    A partner in testing only has the flag set (it stays in testing). False when it was so
    already (nothing changes, nothing is recorded)."""
    fresh = Partner.objects.filter(pk=partner.pk).first() or partner
    name = "resume" if active else "pause"
    if fresh.state == PartnerState.TESTING:
        name += "_in_testing"
    if fresh.active == active:
        return False
    try:
        move_partner(partner, name, actor)
    except Refused:  # moved meanwhile: the caller may try again
        return False
    routing.forget_open()
    return True
