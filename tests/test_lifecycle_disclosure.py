"""A disclosure case, model-checked: privacy officers weighing, deciding, telling the person,
withholding, disclosing and closing, from fresh pages and stale ones, with blank reasons, a
partner that takes the notice, cannot deliver it, is down or answers twice, and the clock, in
any order Hypothesis finds, against the real database (P20, P22, P23, P24).

The partner's side of the notice is `messages.post` answered here (taken, gone, down); the
message itself over HTTP is proven by tests/e2e/test_offers.py and tests/test_partner_check.py."""

from __future__ import annotations

import datetime as dt
import itertools
from unittest import mock

import httpx
import pytest
from django.utils import timezone, translation
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from tests.conftest import CANARY_NAME, make_partner
from tests.machines import Machine, explore
from tillit.audit.models import AuditEvent
from tillit.disclosure import steps
from tillit.disclosure.models import DISCLOSURE, Decision, DisclosureCase, Requester, Step
from tillit.partners.models import Delivery, DeliveryState, Partner
from tillit.subjects.confirmation import confirm, confirmation_token
from tillit.subjects.signup import Signup
from tillit.subjects.signup import register as sign_up
from tillit.vault.pii import Pii

pytestmark = pytest.mark.django_db(transaction=True)

_slugs = itertools.count()
OFFICER = "staff:privacy-officer"
# How the partner answers a notice: taken, gone (it holds nobody by that reference), down.
ANSWERS = ("taken", "taken", "gone", "down")
TEXTS = st.sampled_from(
    ["Straffeprosessloven § 210", "A narrow, lawful order.", "Court order.", "  "]
)
# Mostly the page as it is now; now and then one left open while a colleague moved the case.
STALE = st.sampled_from([False, False, False, True])


ATTEMPTS = {
    "weigh": lambda text: (steps.weigh, [text]),
    "decide to disclose": lambda text: (steps.decide, ["disclose", text]),
    "decide to refuse": lambda text: (steps.decide, ["refuse", text]),
    "decide nothing": lambda text: (steps.decide, ["maybe", text]),
    "notify": lambda text: (steps.notify, []),
    "withhold": lambda text: (steps.withhold, [text]),
    "disclose": lambda text: (steps.disclose, []),
    "close": lambda text: (steps.close, []),
}


class DisclosureCases(Machine):
    def __init__(self) -> None:
        super().__init__()
        # Partners of examples before this one (the database is not emptied between them) get
        # nobody new: this example's person is referred to this example's partner.
        Partner.objects.update(active=False)
        slug = f"disclosure-machine-{next(_slugs)}"
        self.partner = make_partner(slug=slug, endpoint=f"http://{slug}.invalid", countries=["NO"])
        registered = sign_up(
            Signup(
                name=Pii(CANARY_NAME),
                email=Pii(f"person-{slug}@example.com"),
                phone=None,
                country="NO",
                consents={"referral": True, "offers": False},
                language="nb",
            )
        )
        assert registered.subject is not None
        self.person = registered.subject
        confirm(confirmation_token(self.person))
        Delivery.objects.filter(subject=self.person).update(
            state=DeliveryState.DELIVERED, envelope=None, delivered_at=timezone.now()
        )
        self.cases: list[DisclosureCase] = []
        self.closed: dict[object, dict[str, object]] = {}
        self.answer = "taken"
        self._post = mock.patch("tillit.disclosure.steps.messages.post", self._partner_answers)
        self._post.start()

    def _partner_answers(self, client: object, partner: object, notice: dict) -> int:
        if self.answer == "down":
            raise httpx.ConnectError("the partner is down")
        return 410 if self.answer == "gone" else 201

    def teardown(self) -> None:
        self._post.stop()
        super().teardown()

    def watches(self):
        return [(DISCLOSURE, DisclosureCase.objects.filter(id__in=[c.id for c in self.cases]))]

    # Requests come in

    @initialize()
    def a_first_request_is_registered(self) -> None:
        self.a_request_is_registered(about_someone=True, kind=Requester.AUTHORITY)

    @precondition(lambda self: len(self.cases) < 2)
    @rule(about_someone=st.booleans(), kind=st.sampled_from(Requester.values))
    def a_request_is_registered(self, about_someone: bool, kind: str) -> None:
        case = DisclosureCase(
            requester_kind=kind,
            requester="Politiet, Oslo politidistrikt",
            legal_basis="Straffeprosessloven § 210",
            scope="Which partner the person was referred to, and when.",
            subject=self.person if about_someone else None,
        )
        self.cases.append(steps.register(case, actor="staff:support"))

    # The privacy officer, from the case's page as it is now or as it was (a stale page)

    def _step(self, data: st.DataObject, do, *args: str) -> None:  # noqa: ANN001
        case = data.draw(st.sampled_from(self.cases))
        stale = data.draw(STALE)
        page = DisclosureCase.objects.get(id=case.id)
        version = page.version - 1 if stale and page.version else page.version
        before = DisclosureCase.objects.filter(id=case.id).values().get()
        try:
            do(page, version, *args, OFFICER)
        except steps.StepRefused:
            assert DisclosureCase.objects.filter(id=case.id).values().get() == before
        else:
            assert not (stale and before["version"]), "a step from a stale page was taken"

    @precondition(lambda self: self.cases)
    @rule(data=st.data())
    def the_officer_takes_the_step_the_page_offers(self, data: st.DataObject) -> None:
        """What the case's page shows a button for (console/disclosure_case.html), filled in."""
        case = data.draw(st.sampled_from(self.cases))
        case.refresh_from_db()
        decision = data.draw(st.sampled_from(["disclose", "disclose", "refuse"]))
        offered = {
            Step.REGISTERED: [(steps.weigh, "A narrow, lawful order.")],
            Step.UNDER_REVIEW: [(steps.decide, decision, "A court order.")],
            Step.DECIDED: [(steps.notify,), (steps.withhold, "Straffeprosessloven § 210 c")]
            if case.decision == Decision.DISCLOSE and case.subject_id
            else [(steps.close,)],
            Step.NOTIFIED: [(steps.disclose,)],
            Step.WITHHELD: [(steps.disclose,)],
            Step.DISCLOSED: [(steps.close,)],
        }.get(case.step)
        if offered:
            do, *args = data.draw(st.sampled_from(offered))
            do(case, case.version, *args, OFFICER)

    @precondition(lambda self: self.cases)
    @rule(data=st.data(), name=st.sampled_from(list(ATTEMPTS)), text=TEXTS)
    def the_officer_tries_any_step(self, data: st.DataObject, name: str, text: str) -> None:
        """Any step, out of order, blank, or with an undecidable decision."""
        do, args = ATTEMPTS[name](text)
        self._step(data, do, *args)

    # The partner, the worker and the clock

    @precondition(lambda self: self.cases)
    @rule(data=st.data(), answer=st.sampled_from(ANSWERS), twice=st.booleans())
    def the_worker_sends_the_notice(self, data: st.DataObject, answer: str, twice: bool) -> None:
        """The notice task runs (once, or twice as after a crash), whatever the case's step."""
        self.answer = answer
        case = data.draw(st.sampled_from(self.cases))
        for _ in range(2 if twice else 1):
            steps.send_notice.call(str(case.id))

    @rule(hours=st.sampled_from([1, 25, 24 * 31]))
    def time_passes(self, hours: int) -> None:
        self.clock.shift(dt.timedelta(hours=hours))

    # What must hold after every step

    def _trail(self, case: DisclosureCase) -> list[str]:
        return list(
            AuditEvent.objects.filter(target=f"disclosure:{case.id}")
            .order_by("seq")
            .values_list("action", flat=True)
        )

    @invariant()
    def nothing_is_disclosed_without_a_recorded_decision_and_basis(self) -> None:
        for case in DisclosureCase.objects.filter(id__in=[c.id for c in self.cases]):
            if case.step in (Step.DISCLOSED, Step.CLOSED) and case.disclosed is not None:
                assert case.decision == Decision.DISCLOSE
                assert case.balancing.strip() and case.decision_reason.strip()
                assert case.legal_basis.strip()
            if case.decision == Decision.REFUSE:
                assert case.disclosed is None, "a refusal disclosed something"
            if case.step == Step.WITHHELD:
                assert case.prohibition.strip(), "withheld with no prohibition recorded"

    @invariant()
    def the_person_is_told_before_a_disclosure_unless_the_law_forbids_it(self) -> None:
        for case in DisclosureCase.objects.filter(id__in=[c.id for c in self.cases]):
            trail = self._trail(case)
            if "disclosure.disclosed" not in trail:
                continue
            before = trail[: trail.index("disclosure.disclosed")]
            told = "disclosure.notice_delivered" in before
            assert told or case.prohibition.strip(), f"disclosed untold: {trail}"

    @invariant()
    def a_closed_case_never_changes(self) -> None:
        for case in DisclosureCase.objects.filter(id__in=[c.id for c in self.cases]).values():
            if case["id"] in self.closed:
                assert case == self.closed[case["id"]], "a closed case changed"
            elif case["step"] == Step.CLOSED:
                assert case["closed_at"]
                self.closed[case["id"]] = case

    @invariant()
    def the_trail_tells_each_step_once_in_order(self) -> None:
        for case in DisclosureCase.objects.filter(id__in=[c.id for c in self.cases]):
            moves = [a for a in self._trail(case) if a != "disclosure.notice_undeliverable"]
            assert moves[0] == "disclosure.registered"
            assert moves.count("disclosure.disclosed") <= 1
            assert moves.count("disclosure.closed") <= 1
            if "disclosure.closed" in moves:
                assert moves[-1] == "disclosure.closed", "something happened after closing"


@pytest.mark.promise("P24")
@pytest.mark.promise("P20")
@pytest.mark.promise("P22")
@pytest.mark.promise("P23")
def test_disclosure_cases_hold_their_invariants_in_any_order(record_property):
    explore(DisclosureCases, record_property)


@pytest.mark.promise("P22")
def test_a_case_about_nobody_in_the_records_can_be_closed_after_its_decision():
    """Found by the machine above: decided for disclosure, a case about nobody in tillit's
    records could not go on (nobody to tell) nor be closed (nothing disclosed yet): only a
    made-up legal prohibition would have moved it."""
    machine = DisclosureCases()
    try:
        machine.a_request_is_registered(about_someone=False, kind=Requester.THIRD_PARTY)
        case = machine.cases[0]
        case = steps.weigh(case, case.version, "A narrow, lawful order.", OFFICER)
        case = steps.decide(case, case.version, "disclose", "A court order.", OFFICER)
        with translation.override("en"), pytest.raises(steps.StepRefused, match="nobody to tell"):
            steps.notify(case, case.version, OFFICER)
        case = steps.close(case, case.version, OFFICER)
        assert case.step == Step.CLOSED and case.disclosed is None and not case.prohibition
    finally:
        machine.teardown()


@pytest.mark.promise("P20")
def test_nothing_is_disclosed_while_the_notice_is_still_on_its_way():
    """Found by the machine above: "notify" only queued the notice, yet the case was at once
    "the person has been told", and disclosing it went through while the partner was down (or
    could not deliver the notice at all): the records went out and the person was never told."""
    machine = DisclosureCases()
    try:
        machine.a_request_is_registered(about_someone=True, kind=Requester.AUTHORITY)
        case = machine.cases[0]
        case = steps.weigh(case, case.version, "A narrow, lawful order.", OFFICER)
        case = steps.decide(case, case.version, "disclose", "A court order.", OFFICER)
        case = steps.notify(case, case.version, OFFICER)
        machine.answer = "down"
        steps.send_notice.call(str(case.id))
        case.refresh_from_db()
        with translation.override("en"), pytest.raises(steps.StepRefused, match="not been told"):
            steps.disclose(case, case.version, OFFICER)
        machine.answer = "gone"
        steps.send_notice.call(str(case.id))
        case.refresh_from_db()
        assert case.step == Step.DECIDED  # back to the officer: tell again, or withhold by law
        with pytest.raises(steps.StepRefused):
            steps.disclose(case, case.version, OFFICER)
        case = steps.notify(case, case.version, OFFICER)
        machine.answer = "taken"
        steps.send_notice.call(str(case.id))
        steps.send_notice.call(str(case.id))  # a second run tells and records nothing more
        case.refresh_from_db()
        assert case.step == Step.NOTIFIED
        case = steps.disclose(case, case.version, OFFICER)
        assert case.step == Step.DISCLOSED
        assert machine._trail(case).count("disclosure.notice_delivered") == 1
    finally:
        machine.teardown()
