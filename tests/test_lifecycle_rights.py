"""Rights requests, model-checked: people asking for each right (with and without data held
here), partners with a rights API and partners reached by e-mail, the worker sending, polling,
reminding and closing, partners that are down, fail, lose their answers, answer late or twice,
staff extending and refusing, retention and the clock, in any order Hypothesis finds, against
the real database.

The API partner is the partner library's own `Partner` (tillit_partner.core) with its memory
store, reached through an httpx transport that answers in this process, so it keeps this
machine's clock; its status callbacks are kept and delivered (once, twice, late) by a rule, to
tillit's own callback view. The e-mail partner answers through the one-time link, on the
answer page itself. Over real HTTP the same paths are proven by tests/e2e/test_rights_fanout.py.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter
from contextlib import contextmanager
from unittest import mock

import httpx
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.tasks import TaskResultStatus
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule
from tillit_partner import signing as partner_signing
from tillit_partner.core import Partner as LibraryPartner
from tillit_partner.core import Request
from tillit_partner.store import MemoryStore

from tests.conftest import CANARY_NAME, make_partner
from tests.machines import Machine, explore
from tillit.audit.models import AuditEvent
from tillit.datamap import Kind
from tillit.partners.models import Delivery, DeliveryState, Partner
from tillit.rights import actions, answers, deadlines, export, fanout, verification
from tillit.rights.models import (
    PARTNER_TASK,
    RIGHTS_REQUEST,
    PartnerTask,
    RightsRequest,
    State,
    TaskState,
)
from tillit.subjects.confirmation import confirm, confirmation_token
from tillit.subjects.models import Subject
from tillit.subjects.signup import Signup, register
from tillit.vault.models import Envelope
from tillit.vault.pii import Pii
from tillit.worker.jobs import requeue_stranded_jobs

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "a-secret-for-the-rights-machine"
MODES = ("up", "up", "up", "down", "failing", "losing answers")
# Where the person's data went: to the API partner, to the e-mail partner, nowhere yet (a lead
# not sent), or nowhere at all (an address nobody signed up with).
HELD = ("api", "api", "email", "email", "nowhere", "nobody")
SETTLED = (TaskState.COMPLETED, TaskState.FAILED, TaskState.CANCELLED)
OPEN = [s for s in State.values if s not in RIGHTS_REQUEST.finals]
CHANGES = {
    Kind.RECTIFICATION: {"country": "SE"},
    Kind.PORTABILITY: {
        "recipient_name": "Another Company",
        "recipient_email": "privacy@another.example.com",
    },
}
_slugs = itertools.count()
RETENTION = [
    requeue_stranded_jobs,
    verification.forget_stale_challenges,
    export.forget_stale_exports,
    actions.alarm_overdue,
]
HTTPX_CLIENT = httpx.Client  # the real one: the e-mail jobs' own is replaced by the partner's


class PartnerHere:
    """An httpx transport to the library partner, answering in this process in one of MODES:
    up; down (nothing connects); failing (HTTP 500, nothing done); losing answers (it does the
    work, but the answer never comes back)."""

    def __init__(self, endpoint: str, hold_seconds: float) -> None:
        self.endpoint = endpoint
        self.callbacks: list[tuple[str, bytes]] = []
        self.partner = LibraryPartner(
            SECRET,
            MemoryStore(),
            hold_seconds=hold_seconds,
            callback=lambda url, body, header: self.callbacks.append((url, body)),
            endpoint=endpoint,
        )
        self.mode = "up"

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.mode == "down":
            raise httpx.ConnectError("the partner is down", request=request)
        if self.mode == "failing":
            return httpx.Response(500, content=b"internal error")
        answer = self.partner.handle(
            Request(
                request.method,
                request.url.path,
                request.content,
                dict(request.headers),
                self.endpoint,
            )
        )
        if self.mode == "losing answers":
            raise httpx.ReadError("the connection dropped before the answer", request=request)
        return httpx.Response(
            answer.status,
            headers={"Content-Type": answer.content_type, **answer.headers},
            content=answer.body,
        )

    def client(self, *args: object, **kwargs: object) -> httpx.Client:
        return HTTPX_CLIENT(transport=httpx.MockTransport(self.handle))

    def request_ids(self) -> list[str]:
        return list(self.partner.store._requests)  # type: ignore[attr-defined]


class RightsRequests(Machine):
    def __init__(self) -> None:
        super().__init__()
        # Rows of examples before this one (the database is not emptied between them) are
        # settled, and their jobs gone, so nothing here acts on them.
        RightsRequest.objects.filter(state__in=OPEN).update(
            state=State.COMPLETED, completed_at=timezone.now()
        )
        PartnerTask.objects.exclude(state__in=PARTNER_TASK.finals).update(state=TaskState.CANCELLED)
        DBTaskResult.objects.all().delete()
        Partner.objects.update(active=False)
        n = next(_slugs)
        endpoint = f"http://rights-machine-{n}.invalid"
        self.api = make_partner(
            slug=f"rights-api-{n}", endpoint=endpoint, countries=["NO"], secret=SECRET
        )
        self.mailed = make_partner(
            slug=f"rights-mail-{n}",
            endpoint=f"http://rights-mail-{n}.invalid",
            countries=["NO"],
            secret=SECRET,
            rights_api=False,
            privacy_email=f"privacy@rights-mail-{n}.example.com",
        )
        self.partner = PartnerHere(endpoint, hold_seconds=0)
        self.web = Client()
        self.people: list[tuple[str, str]] = []  # (address, where their data went)
        self.subjects: list[Subject] = []  # those who signed up
        self.requests: list[RightsRequest] = []
        self.closed: dict[object, tuple[object, ...]] = {}
        self.delivered: set[int] = set()  # callbacks tillit has had
        # At each refusal: the requests the partner held, and the e-mails sent for it.
        self.refused_at: dict[object, tuple[set[str], int]] = {}
        self.alarms_checked_at: dt.datetime | None = None

    def watches(self):
        return [
            (RIGHTS_REQUEST, RightsRequest.objects.filter(id__in=[r.id for r in self.requests])),
            (PARTNER_TASK, PartnerTask.objects.filter(partner__in=[self.api, self.mailed])),
        ]

    # People

    @initialize(held=st.sampled_from(HELD), kind=st.sampled_from(Kind.values), slow=st.booleans())
    def a_first_person_asks(self, held: str, kind: str, slow: bool) -> None:
        """The API partner carries requests out at once, or holds them an hour (pending)."""
        self.partner.partner.hold_seconds = 3600 if slow else 0
        self._ask(self._sign_up(held), kind)

    @rule(held=st.sampled_from(HELD), kind=st.sampled_from(Kind.values))
    def someone_asks(self, held: str, kind: str) -> None:
        self._ask(self._sign_up(held), kind)

    @precondition(lambda self: self.people)
    @rule(data=st.data(), kind=st.sampled_from(Kind.values))
    def someone_asks_again(self, data: st.DataObject, kind: str) -> None:
        """Another right, or the same again (after an erasure, nobody is found)."""
        self._ask(data.draw(st.sampled_from(self.people))[0], kind)

    def _sign_up(self, held: str) -> str:
        n = len(self.people)
        address = f"person-{self.api.slug}-{n}@example.com"
        self.people.append((address, held))
        if held == "nobody":
            return address  # an address nobody signed up with
        registered = register(
            Signup(
                name=Pii(CANARY_NAME),
                email=Pii(address),
                phone=None,
                country="NO",
                consents={"referral": True, "offers": True},
                language="nb",
            )
        )
        subject = registered.subject
        assert subject is not None
        self.subjects.append(subject)
        confirm(confirmation_token(subject))
        if held == "nowhere":
            return address  # confirmed, its lead not sent yet
        partner = self.api if held == "api" else self.mailed
        lead = Delivery.objects.get(subject=subject).envelope_id
        Delivery.objects.filter(subject=subject).update(
            partner=partner,
            state=DeliveryState.DELIVERED,
            envelope=None,
            attempts=1,
            delivered_at=timezone.now(),
        )
        Subject.objects.filter(id=subject.id).update(partner=partner)
        Envelope.objects.filter(id=lead).shred()
        return address

    def _ask(self, address: str, kind: str) -> None:
        challenge = verification.start(address, kind, "nb")
        code = "123456"
        type(challenge).objects.filter(id=challenge.id).update(
            code_hash=verification._hash(challenge.id, code)
        )
        request = actions.open_request(
            verification.check(challenge.id, code), kind, CHANGES.get(kind)
        )
        self.requests.append(request)

    @precondition(lambda self: self.subjects)
    @rule(data=st.data())
    def someone_follows_an_offers_opt_out_link(self, data: st.DataObject) -> None:
        """The link in an offer: no address is asked for, so none is kept (nor can the
        request be extended or refused: nobody could be told)."""
        request = actions.opt_out_of_offers(data.draw(st.sampled_from(self.subjects)))
        if request is not None:
            assert request.contact_id is None
            self.requests.append(request)

    # The worker

    @rule(mode=st.sampled_from(MODES), steps=st.integers(1, 3))
    def the_worker_steps(self, mode: str, steps: int) -> None:
        """The worker's rights step: send what waits, poll, remind, withdraw."""
        self.partner.mode = mode
        with self.partner.client() as client:
            for _ in range(steps):
                fanout.step(client)

    @rule(mode=st.sampled_from(MODES))
    def the_mail_jobs_run(self, mode: str) -> None:
        """The e-mail jobs: received, completed (with the export, fetched from the partner),
        extended, refused, the partner's e-mails, the alarms."""
        self.partner.mode = mode
        started = timezone.now()
        with mock.patch("httpx.Client", self.partner.client):
            run_jobs()
        if mode == "up":
            # A completed request's answer is put off only while a partner cannot be reached.
            retried = DBTaskResult.objects.filter(
                task_path__endswith=".send_completed",
                status=TaskResultStatus.READY,
                enqueued_at__gte=started,
            )
            assert not retried.exists(), "the answer was put off, every partner up"

    @rule()
    def retention_runs(self) -> None:
        """The retention rules that concern rights requests (the others have nothing of this
        machine's to act on, and cost it time)."""
        now = timezone.now()
        for rule_ in RETENTION:
            rule_(now)
        self.alarms_checked_at = now

    # Partners

    @rule()
    def the_partner_carries_out_what_it_holds(self) -> None:
        self.partner.partner.settle()

    @precondition(lambda self: self.partner.callbacks)
    @rule(data=st.data())
    def a_callback_arrives(self, data: st.DataObject) -> None:
        """A status callback, signed as it is sent: the first time, again (a duplicate), or
        late (after the clock moved)."""
        index = data.draw(st.integers(0, len(self.partner.callbacks) - 1))
        url, body = self.partner.callbacks[index]
        before = self._snapshot() if index in self.delivered else None
        header = partner_signing.sign(self.partner.partner.secrets(), body, purpose="dsr-callback")
        answered = self.web.post(
            url.removeprefix("http://testserver"),
            body,
            content_type="application/json",
            headers={"Tillit-Signature": header},
        )
        assert answered.status_code == 202, answered.content
        if before is not None:
            assert self._snapshot() == before, "a duplicated callback changed something"
        self.delivered.add(index)

    @precondition(lambda self: self._mailed_tasks())
    @rule(data=st.data(), answer=st.sampled_from([answers.Answer.DONE, answers.Answer.NO_DATA]))
    def the_email_partner_answers(self, data: st.DataObject, answer: str) -> None:
        task = data.draw(st.sampled_from(self._mailed_tasks()))
        task.refresh_from_db()
        path = answers.link(task)
        form: dict[str, object] = {"answer": answer}
        if task.request.wants_export and answer == answers.Answer.DONE:
            form["file"] = SimpleUploadedFile("records.json", b'{"held": []}')
        before = self._snapshot()
        page = self.web.post(path, form)
        if task.state in (TaskState.COMPLETED, TaskState.CANCELLED):
            assert page.status_code == 410
            assert self._snapshot() == before, "a second answer changed something"
        else:
            assert page.status_code == 200, page.content

    # Staff

    @precondition(lambda self: self.requests)
    @rule(data=st.data())
    def staff_extend(self, data: st.DataObject) -> None:
        request = RightsRequest.objects.get(id=data.draw(st.sampled_from(self.requests)).id)
        try:
            actions.extend(request, "many partners hold the data", actor="staff:1")
        except actions.CannotExtend:
            law = deadlines.law_for(request.subject.country if request.subject else None)
            allowed = (
                request.state in OPEN
                and not request.extended_until
                and timezone.now() < request.due_at
                and deadlines.latest_extension(request.received_at, law, request.kind)
                and request.contact_id
            )
            assert not allowed, f"{request} could be extended, and was not"
        else:
            # A self-move: the built-in invariant sees no change of state, so it is told here.
            assert request.state in OPEN
            assert AuditEvent.objects.filter(
                action="rights.extended", target=f"request:{request.id}"
            ).exists()

    @precondition(lambda self: self.requests)
    @rule(data=st.data())
    def staff_refuse(self, data: st.DataObject) -> None:
        request = RightsRequest.objects.get(id=data.draw(st.sampled_from(self.requests)).id)
        try:
            actions.refuse(request, "manifestly excessive", actor="staff:1")
        except actions.CannotRefuse:
            assert request.state not in OPEN or request.contact_id is None
        else:
            mailed = AuditEvent.objects.filter(
                target=f"request:{request.id}", action__in=MAILED
            ).count()
            self.refused_at[request.id] = (set(self.partner.request_ids()), mailed)

    # The clock

    @rule(hours=st.sampled_from([1, 2, 25, 5 * 24 + 1, 7 * 24, 15 * 24, 32 * 24]))
    def time_passes(self, hours: int) -> None:
        self.clock.shift(dt.timedelta(hours=hours))

    # What must hold after every step (read once, in a few queries: the machine's speed is
    # in how few it makes)

    @invariant()
    def the_rights_promises_hold(self) -> None:
        if not self.requests:
            return
        seen = Seen(self)
        self.no_request_passes_its_deadline_silently(seen)
        self.a_request_closes_only_once_every_partner_is_settled(seen)
        self.a_closed_request_never_changes(seen)
        self.a_refused_request_reaches_no_new_partner(seen)
        self.a_task_is_sent_once_and_answered_once(seen)
        self.no_envelope_outlives_its_purpose(seen)

    def no_request_passes_its_deadline_silently(self, seen: Seen) -> None:
        for r in seen.requests.values():
            if r.state in OPEN and self.alarms_checked_at and r.deadline <= self.alarms_checked_at:
                assert r.overdue_alarm_at is not None, f"{r} is past its deadline, unalarmed"
            assert seen.events[("rights.overdue", r.id)] <= 1, f"{r} alarmed twice"

    def a_request_closes_only_once_every_partner_is_settled(self, seen: Seen) -> None:
        for r in seen.requests.values():
            states = {t.state for t in seen.tasks_of(r.id)}
            if r.state == State.COMPLETED:
                assert states <= set(SETTLED), (r, states)
            elif r.state == State.REFUSED:  # nothing is left to send
                assert TaskState.WAITING not in states, (r, states)

    def a_closed_request_never_changes(self, seen: Seen) -> None:
        for r in seen.requests.values():
            if r.state not in OPEN:
                now = (r.state, r.completed_at, r.outcome, r.extended_until, r.overdue_alarm_at)
                assert self.closed.setdefault(r.id, now) == now, f"{r} changed after it closed"

    def a_refused_request_reaches_no_new_partner(self, seen: Seen) -> None:
        held = set(self.partner.request_ids())
        for request_id, (then, mailed) in self.refused_at.items():
            sent = {str(t.id) for t in seen.tasks_of(request_id)} & held
            assert sent <= then, "a refused request was sent to a partner"
            now = sum(seen.events[(action, request_id)] for action in MAILED)
            assert now == mailed, "a refused request was mailed to a partner"

    def a_task_is_sent_once_and_answered_once(self, seen: Seen) -> None:
        per = Counter((t.request_id, t.partner_id) for t in seen.tasks)
        assert all(n == 1 for n in per.values()), per
        # The partner holds one request per task (tillit's task id is its idempotent id).
        assert set(self.partner.request_ids()) <= {str(t.id) for t in seen.tasks}
        for r in seen.requests.values():
            n = len(seen.tasks_of(r.id))
            for action in ("rights.partner_sent", "rights.partner_mailed", "rights.partner_done"):
                assert seen.events[(action, r.id)] <= n, (r, action)

    def no_envelope_outlives_its_purpose(self, seen: Seen) -> None:
        waiting = None
        for r in seen.requests.values():
            if r.state in OPEN:
                continue
            if r.contact_id in seen.kept:
                # Only until the closing e-mail has gone.
                waiting = unfinished_jobs() if waiting is None else waiting
                assert str(r.id) in waiting, f"{r}'s address outlived its answer"
            if r.kind != Kind.PORTABILITY or r.state == State.REFUSED:
                assert r.details_id not in seen.kept, f"{r}'s details outlived its closing"
            if r.export_id or r.transfer_id:  # the partners' uploads are inside it now
                assert not {t.answer_file_id for t in seen.tasks_of(r.id)} & seen.kept
        if self.alarms_checked_at is not None:
            oldest = self.alarms_checked_at - export.LIFETIME
            assert not [e for e in seen.exports if e < oldest], "an export outlived its 7 days"

    def teardown(self) -> None:
        """Eventually: with the partner up and the worker running for three weeks, every
        request is closed, or waits on a partner given up on, which the privacy officer has
        heard of (and of the request, once past its deadline)."""
        try:
            self.partner.mode = "up"
            for _ in range(4):
                with self.partner.client() as client:
                    fanout.step(client)
                self.partner.partner.settle()
                for index in range(len(self.partner.callbacks)):
                    if index not in self.delivered:
                        self.a_callback_arrives(data=_Index(index))
                self.the_mail_jobs_run(mode="up")
                self.retention_runs()
                self.clock.shift(dt.timedelta(days=5, hours=1))
            self.retention_runs()
            self.the_rights_promises_hold()
            seen = Seen(self)
            failed = Counter(
                AuditEvent.objects.filter(
                    action="rights.partner_failed",
                    target__in=[f"request:{r}" for r in seen.requests],
                ).values_list("target", flat=True)
            )
            for r in seen.requests.values():
                if r.state in OPEN:
                    states = {t.state for t in seen.tasks_of(r.id)}
                    assert TaskState.FAILED in states and failed[f"request:{r.id}"], (r, states)
                    assert states <= set(SETTLED), (r, states)
        finally:
            super().teardown()

    # Helpers

    def _rows(self):
        return RightsRequest.objects.filter(id__in=[r.id for r in self.requests])

    def _mailed_tasks(self) -> list[PartnerTask]:
        return list(
            PartnerTask.objects.filter(partner=self.mailed, sent_at__isnull=False).select_related(
                "request", "partner"
            )
        )

    def _snapshot(self) -> tuple[object, ...]:
        tasks = PartnerTask.objects.filter(request__in=self._rows()).order_by("id")
        return (
            list(tasks.values_list("id", "state", "completed_at", "answer", "results_url")),
            list(self._rows().order_by("id").values_list("id", "state", "completed_at", "outcome")),
            AuditEvent.objects.exclude(action="rights.partner_opened").count(),
        )


class Seen:
    """The machine's requests, their tasks, their audit events and the envelopes still kept,
    as they stand after a step."""

    def __init__(self, machine: RightsRequests) -> None:
        self.requests = {r.id: r for r in machine._rows()}
        self.tasks = list(PartnerTask.objects.filter(request_id__in=self.requests))
        targets = {f"request:{r}": r for r in self.requests}
        self.events: Counter[tuple[str, object]] = Counter(
            (action, targets[target])
            for action, target in AuditEvent.objects.filter(
                target__in=targets, action__in=WATCHED_EVENTS
            ).values_list("action", "target")
        )
        envelopes = [
            e
            for r in self.requests.values()
            for e in (r.contact_id, r.details_id, r.export_id, r.transfer_id)
        ] + [t.answer_file_id for t in self.tasks]
        self.kept = set(
            Envelope.objects.filter(id__in=[e for e in envelopes if e]).values_list("id", flat=True)
        )
        self.exports = list(
            Envelope.objects.filter(
                id__in=[e for r in self.requests.values() for e in (r.export_id, r.transfer_id)]
            ).values_list("created_at", flat=True)
        )

    def tasks_of(self, request_id: object) -> list[PartnerTask]:
        return [t for t in self.tasks if t.request_id == request_id]


MAILED = ["rights.partner_mailed", "rights.partner_reminded"]
WATCHED_EVENTS = ["rights.overdue", "rights.partner_sent", "rights.partner_done", *MAILED]


def _kept(envelope_id: object) -> bool:
    return bool(envelope_id) and Envelope.objects.filter(id=envelope_id).exists()


def run_jobs(max_tasks: int = 200) -> int:
    """The worker's e-mail jobs that are due, as its loop runs them."""
    from tillit.worker.loop import Loop

    return Loop().run_tasks(max_tasks=max_tasks)


def unfinished_jobs() -> str:
    """The arguments of every job not yet run (or due to run again), as one string."""
    return " ".join(
        str(args)
        for args in DBTaskResult.objects.filter(
            status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING]
        ).values_list("args_kwargs", flat=True)
    )


@contextmanager
def machine():
    m = RightsRequests()
    try:
        yield m
    finally:
        Machine.teardown(m)


@pytest.mark.promise("P25")
@pytest.mark.promise("P26")
@pytest.mark.promise("P27")
@pytest.mark.promise("P28")
@pytest.mark.promise("P29")
@pytest.mark.promise("P31")
@pytest.mark.promise("P32")
def test_rights_requests_hold_their_invariants_in_any_order(record_property):
    explore(RightsRequests, record_property)


@pytest.mark.promise("P25")
def test_the_address_of_someone_we_hold_nothing_about_goes_once_they_are_told():
    """Found by the machine above: a request from an address nobody signed up with is answered
    at once (the e-mail that confirms it says we hold nothing), and the address it was sealed
    for, to send that e-mail, was then kept for good."""
    with machine() as m:
        m.a_first_person_asks(held="nobody", kind=Kind.ACCESS, slow=False)
        request = RightsRequest.objects.get(id=m.requests[0].id)
        assert (request.state, request.outcome) == (State.COMPLETED, "no_data")
        assert _kept(request.contact_id)  # until the e-mail has gone
        m.the_mail_jobs_run(mode="up")
        assert not _kept(request.contact_id)


class _Index:
    """Stands in for Hypothesis's data object: draws the given index."""

    def __init__(self, index: int) -> None:
        self.index = index

    def draw(self, strategy):  # noqa: ANN001, ANN201
        return self.index


class _first:
    """Stands in for Hypothesis's data object: draws the first choice."""

    def draw(self, strategy):  # noqa: ANN001, ANN201
        return strategy.elements[0]


@pytest.mark.promise("P25")
@pytest.mark.promise("P29")
def test_an_access_answer_is_sent_when_an_erasure_since_took_the_partners_results():
    """Found with the machine's rules: a person asks to see their data, then to erase it. The
    partner answers the first (keeping its results for tillit to fetch), then erases
    everything, results included; the e-mail with the export then failed on the partner's 404
    and was put off by five minutes, again and again: the person never had an answer and their
    address was kept for good."""
    with machine() as m:
        m.a_first_person_asks(held="api", kind=Kind.ACCESS, slow=False)
        m.the_worker_steps(mode="up", steps=1)
        m.someone_asks_again(data=_first(), kind=Kind.ERASURE)
        m.the_worker_steps(mode="up", steps=1)
        access, erasure = (RightsRequest.objects.get(id=r.id) for r in m.requests)
        assert (access.state, erasure.state) == (State.COMPLETED, State.COMPLETED)
        m.the_mail_jobs_run(mode="up")  # the answer is not put off
        access.refresh_from_db()
        assert access.export_id and not _kept(access.contact_id)
