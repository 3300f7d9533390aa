"""A partner, model-checked: conformance reports that pass or fail (for its endpoint or
another), going live, back to testing, paused and resumed from the console's functions and the
command line, its signing secret rotated with and without an overlap, retention and the clock,
and people routed all the while, in any order Hypothesis finds, against the real database
(P18: only partners with agreements and a passing check on record receive data).

The partner's state is derived from two flags (PARTNER in partners/models/partner.py); the machine
watches it through `Partner.objects.with_state()`."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule

from tests.conftest import make_report
from tests.machines import Machine, explore
from tillit.audit.models import AuditEvent
from tillit.partners import routing, sandbox
from tillit.partners.models import PARTNER, Partner, PartnerState
from tillit.vault.models import Envelope
from tillit.worker import retention

pytestmark = pytest.mark.django_db(transaction=True)

_slugs = itertools.count()
MOSTLY = st.sampled_from([True, True, True, False])


def cli(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


class Partners(Machine):
    def __init__(self) -> None:
        super().__init__()
        # Partners of earlier examples (the database is not emptied between them) take nobody.
        Partner.objects.update(active=False)
        self.slug = f"partner-machine-{next(_slugs)}"
        self.endpoint = f"https://{self.slug}.example.com/tillit"
        self.secret_file = Path(f"/tmp/{self.slug}-{uuid.uuid4().hex}.secret")
        self.rotations = 0
        self.current = ""
        # (secret, good until, envelope id) of each rotated-out secret
        self.old: list[tuple[str, dt.datetime | None, object]] = []
        self.retention_ran_at: dt.datetime | None = None

    def teardown(self) -> None:
        self.secret_file.unlink(missing_ok=True)
        super().teardown()

    def watches(self):
        return [(PARTNER, Partner.objects.with_state().filter(slug=self.slug))]

    @property
    def partner(self) -> Partner:
        return Partner.objects.get(slug=self.slug)

    # The operator

    @initialize(dpa=MOSTLY, attested=MOSTLY)
    def the_operator_adds_the_partner_first(self, dpa: bool, attested: bool) -> None:
        self.the_operator_adds_the_partner(dpa, attested)

    @rule(dpa=MOSTLY, attested=MOSTLY)
    def the_operator_adds_the_partner(self, dpa: bool, attested: bool) -> None:
        """Once per example (a second time is refused: the slug is taken)."""
        if Partner.objects.filter(slug=self.slug).exists():
            return
        self.current = f"first-secret-of-{self.slug}"
        self.secret_file.write_text(self.current)
        agreements = [
            *(["--dpa-signed-on", "2026-01-01"] if dpa else []),
            *(["--compliance-attested-on", "2026-01-01"] if attested else []),
        ]
        cli(
            "partners", "add", self.slug, "--name", "Machine AS", "--endpoint", self.endpoint,
            "--privacy-url", "https://example.com/privacy", "--countries", "NO",
            "--privacy-email", "privacy@example.com", "--secret-file", str(self.secret_file),
            *agreements,
        )  # fmt: skip

    def _exists(self) -> bool:
        return Partner.objects.filter(slug=self.slug).exists()

    @rule(passed=MOSTLY, this_endpoint=MOSTLY, then_live=st.booleans())
    def the_conformance_suite_reports(self, passed: bool, this_endpoint: bool, then_live: bool):
        """A report (the suite's task, partners/tasks.py, records it so), and at once or later
        staff asking to go live on it."""
        if not self._exists():
            return
        endpoint = self.endpoint if this_endpoint else "https://elsewhere.example.com/tillit"
        failing = [] if passed else ["lead-signature"]
        sandbox.record(self.partner, make_report(endpoint, *failing), actor="worker")
        if then_live:
            self.staff_take_it_live()

    @rule()
    def staff_take_it_live(self) -> None:
        if not self._exists():
            return
        before = self.partner.state
        try:
            sandbox.go_live(self.partner, "staff:1")
        except sandbox.CannotGoLive as refusal:
            assert refusal.blockers and self.partner.state == before

    @rule(via_cli=st.booleans())
    def staff_put_it_back_in_testing(self, via_cli: bool) -> None:
        if not self._exists():
            return
        if via_cli:
            cli("partners", "testing", self.slug)
        else:
            sandbox.to_testing(self.partner, "staff:1")
        assert self.partner.state == PartnerState.TESTING

    @rule(active=st.booleans(), via_cli=st.booleans())
    def staff_pause_or_resume_it(self, active: bool, via_cli: bool) -> None:
        if not self._exists():
            return
        before = self.partner.state
        if via_cli:
            cli("partners", "enable" if active else "disable", self.slug)
        else:
            sandbox.set_active(self.partner, active, "staff:1")
        partner = self.partner
        assert partner.active == active
        if before == PartnerState.TESTING:
            assert partner.state == PartnerState.TESTING  # resuming is not going live

    @rule(overlap_hours=st.sampled_from([0, 1, 24]))
    def the_secret_is_rotated(self, overlap_hours: int) -> None:
        if not self._exists():
            return
        before = self.partner
        self.rotations += 1
        new = f"secret-{self.rotations}-of-{self.slug}"
        self.secret_file.write_text(new)
        cli(
            "partners", "rotate-secret", self.slug, "--secret-file", str(self.secret_file),
            "--overlap-hours", str(overlap_hours),
        )  # fmt: skip
        until = timezone.now() + dt.timedelta(hours=overlap_hours) if overlap_hours else None
        self.old.append((self.current, until, before.secret_envelope_id))
        if before.previous_secret_envelope_id:
            # An older secret still in its overlap goes at once: two at most are ever good.
            self.old = [
                (s, None, e) if e == before.previous_secret_envelope_id else (s, u, e)
                for s, u, e in self.old
            ]
        self.current = new

    # The worker, the clock, and people signing up

    @rule(hours=st.sampled_from([1, 2, 25]))
    def time_passes(self, hours: int) -> None:
        self.clock.shift(dt.timedelta(hours=hours))

    @rule()
    def retention_runs(self) -> None:
        started = timezone.now()  # the rule's own "now" is this or a little later
        retention.run_all()
        self.retention_ran_at = started

    @rule()
    def someone_is_routed(self) -> None:
        chosen = routing.assign(uuid.uuid4(), "NO")
        if chosen is not None:
            assert chosen.slug == self.slug and chosen.state == PartnerState.LIVE

    # What must hold after every step

    @invariant()
    def a_live_partner_has_its_agreements_a_secret_and_a_passing_check(self) -> None:
        partner = Partner.objects.filter(slug=self.slug).first()
        if partner is None:
            return
        compliant = Partner.objects.compliant().filter(slug=self.slug).exists()
        assert compliant == (partner.state == PartnerState.LIVE), "routing disagrees"
        if partner.state == PartnerState.LIVE:
            assert partner.has_agreements() and partner.secret_envelope_id
            # The rule is for going live: the last report then passed, for this endpoint. A
            # report after that does not take the partner off (staff decide, on its page).
            went = AuditEvent.objects.filter(
                target=f"partner:{self.slug}", action="partner.went_live"
            ).latest("seq")
            check = partner.checks.get(pk=went.data["check"])
            assert check.passed and check.checked_endpoint(self.endpoint)

    @invariant()
    def the_secrets_good_now_are_the_new_one_and_the_old_in_its_overlap(self) -> None:
        partner = Partner.objects.filter(slug=self.slug).first()
        if partner is None:
            return
        now = timezone.now()
        good = [self.current] + [s for s, until, _ in self.old if until and until > now]
        assert [s.decode() for s in partner.secrets()] == good
        assert len(good) <= 2
        kept = set(Envelope.objects.values_list("id", flat=True))
        for _secret, until, envelope in self.old:
            if until is None or (self.retention_ran_at and until <= self.retention_ran_at):
                assert envelope not in kept, "a rotated-out secret outlived its overlap"

    @invariant()
    def every_rotation_is_recorded(self) -> None:
        target = f"partner:{self.slug}"
        events = AuditEvent.objects.filter(target=target, action="partner.secret_rotated")
        assert events.count() == self.rotations


@pytest.mark.promise("P18")
def test_partners_hold_their_invariants_in_any_order(record_property):
    explore(Partners, record_property)
