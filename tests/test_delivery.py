"""Delivery to the reference partner, running as a separate process over real HTTP."""

import datetime as dt

import pytest
from django.utils import timezone

from tests.conftest import make_partner
from tests.processes import reference_partner
from tillit.audit.models import AuditEvent
from tillit.partners.delivery import backoff, deliver_batch
from tillit.partners.models import Delivery, DeliveryState, Partner
from tillit.partners.posting import Poster
from tillit.subjects.confirmation import confirmation_token
from tillit.subjects.models import Subject
from tillit.vault.models import Envelope, Purpose

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


@pytest.fixture(scope="module")
def running_partner(tmp_path_factory):
    with reference_partner(tmp_path_factory.mktemp("partner")) as partner:
        yield partner


def sign_up_and_confirm(client, visitor):
    client.post("/", visitor)
    subject = Subject.objects.get(email_index__isnull=False, state="pending")
    client.post(f"/confirm/{confirmation_token(subject)}/")
    return subject


@pytest.mark.promise("P17")
@pytest.mark.promise("P16")
def test_a_confirmed_lead_reaches_the_partner_and_is_shredded(client, visitor, running_partner):
    partner = make_partner(endpoint=running_partner.url, secret=running_partner.secret)
    subject = sign_up_and_confirm(client, visitor)
    with Poster() as http:
        assert deliver_batch(http) == 1
    lead = next(x for x in running_partner.leads() if x["subject_ref"] == str(subject.id))
    assert (lead["name"], lead["email"], lead["phone"], lead["country"]) == (
        "Kari Nordmann",
        "kari@example.com",
        "+4791234567",
        "NO",
    )
    assert {c["purpose"] for c in lead["consents"]} == {"referral", "offers"}
    delivery = Delivery.objects.get()
    assert delivery.state == DeliveryState.DELIVERED and delivery.partner == partner
    assert delivery.partner_reference == lead["partner_lead_id"] and delivery.receipt_hash
    assert not Envelope.objects.filter(purpose=Purpose.LEAD).exists()
    assert AuditEvent.objects.filter(action="lead.delivered", target=subject.ref).exists()


@pytest.mark.promise("P17")
def test_a_lead_waits_for_confirmation(client, visitor, running_partner):
    make_partner(endpoint=running_partner.url, secret=running_partner.secret)
    client.post("/", visitor)
    with Poster() as http:
        assert deliver_batch(http) == 0
    assert Delivery.objects.get().state == DeliveryState.WAITING


def test_a_partner_that_is_down_is_retried_later(client, visitor, running_partner):
    partner = make_partner(endpoint="http://127.0.0.1:9", secret=running_partner.secret)
    sign_up_and_confirm(client, visitor)
    with Poster() as http:
        deliver_batch(http)
        delivery = Delivery.objects.get()
        assert delivery.state == DeliveryState.PENDING and delivery.attempts == 1
        assert delivery.next_attempt_at > timezone.now() and "network" in delivery.last_error
        assert Envelope.objects.filter(purpose=Purpose.LEAD).count() == 1
        # The partner comes back; the retry is due.
        partner.endpoint = running_partner.url
        partner.save()
        Delivery.objects.update(next_attempt_at=timezone.now())
        deliver_batch(http)
    assert Delivery.objects.get().state == DeliveryState.DELIVERED


@pytest.mark.promise("P17")
def test_when_a_partner_takes_a_lead_again_its_waiting_leads_are_due_at_once(
    client, visitor, running_partner
):
    """After an outage each lead waits out its own retry step (up to an hour). The first lead
    the partner takes again brings the rest forward, so they do not wait after it is back."""
    partner = make_partner(endpoint="http://127.0.0.1:9", secret=running_partner.secret)
    first = sign_up_and_confirm(client, visitor)
    second = sign_up_and_confirm(client, {**visitor, "email": "ola@example.com"})
    with Poster() as http:
        assert deliver_batch(http) == 2
        assert deliver_batch(http) == 0  # both wait out a retry step
        partner.endpoint = running_partner.url
        partner.save()
        # The partner is back; the first lead's step runs out, the second's has long to go.
        Delivery.objects.filter(subject=first).update(next_attempt_at=timezone.now())
        Delivery.objects.filter(subject=second).update(
            next_attempt_at=timezone.now() + dt.timedelta(minutes=50)
        )
        assert deliver_batch(http) == 1
        assert deliver_batch(http) == 1
    assert {d.state for d in Delivery.objects.all()} == {DeliveryState.DELIVERED}
    refs = {lead["subject_ref"] for lead in running_partner.leads()}
    assert {str(first.id), str(second.id)} <= refs


@pytest.mark.promise("P17")
def test_only_leads_held_back_by_the_partner_being_down_are_brought_forward(client, visitor):
    """The partner is back: leads that waited because it was down are due now; a lead it
    refused (a 4xx, a 429) and a lead that failed in this very batch keep their retry step."""
    from tillit.partners.delivery import _bring_forward

    partner = make_partner()
    errors = [
        "network: ConnectError",
        "partner answered HTTP 503",
        "partner answered HTTP 422",
        "partner answered HTTP 429",
        "network: ReadTimeout",  # failed in this batch
    ]
    later = timezone.now() + dt.timedelta(minutes=50)
    ids = []
    for n, error in enumerate(errors):
        subject = sign_up_and_confirm(client, {**visitor, "email": f"lead-{n}@example.com"})
        delivery = Delivery.objects.get(subject=subject)
        Delivery.objects.filter(id=delivery.id).update(
            state=DeliveryState.PENDING, last_error=error, next_attempt_at=later
        )
        ids.append(delivery.id)
    _bring_forward({partner}, keep={ids[4]})
    due = set(
        Delivery.objects.filter(next_attempt_at__lte=timezone.now()).values_list("id", flat=True)
    )
    assert due == {ids[0], ids[1]}


@pytest.mark.promise("P17")
def test_a_partner_switches_to_a_rotated_secret_without_a_gap(
    client, visitor, running_partner, tmp_path
):
    """Rotated with an overlap, leads still reach the partner that holds only the old secret
    (tillit signs with both, and takes its receipt signed with the old one). Once the overlap
    ends, only the new secret is good: the partner must have switched."""
    from tillit.partners.models import forget_old_secrets

    partner = make_partner(endpoint=running_partner.url, secret=running_partner.secret)
    new = partner.set_secret(overlap=dt.timedelta(hours=24))
    first = sign_up_and_confirm(client, visitor)
    with Poster() as http:
        assert deliver_batch(http) == 1
        assert Delivery.objects.get(subject=first).state == DeliveryState.DELIVERED
        # The overlap ends; the partner still on the old secret refuses tillit's signature.
        forget_old_secrets(timezone.now() + dt.timedelta(hours=25))
        second = sign_up_and_confirm(client, {**visitor, "email": "ola@example.com"})
        assert deliver_batch(http) == 1
        late = Delivery.objects.get(subject=second)
        assert late.state == DeliveryState.PENDING and "HTTP 401" in late.last_error
        # The partner switches to the new secret; the lead goes through.
        with reference_partner(tmp_path / "switched", secret=new) as switched:
            Partner.objects.filter(pk=partner.pk).update(endpoint=switched.url)
            Delivery.objects.filter(id=late.id).update(next_attempt_at=timezone.now())
            assert deliver_batch(http) == 1
            assert [lead["subject_ref"] for lead in switched.leads()] == [str(second.id)]
    assert Delivery.objects.get(subject=second).state == DeliveryState.DELIVERED


def test_the_queue_is_read_in_the_order_it_falls_due_along_an_index():
    """A backlog of any size is never sorted to claim a batch (SQLite's query plan)."""
    from django.db import connection

    from tillit.partners.delivery import claim

    if connection.vendor != "sqlite":
        pytest.skip("the plan is read with SQLite's EXPLAIN QUERY PLAN")
    plans = []

    def explain(execute, sql, params, many, context):
        if sql.startswith("SELECT") and "partners_delivery" in sql and "LIMIT" in sql:
            cursor = context["connection"].connection.cursor()
            cursor.execute("EXPLAIN QUERY PLAN " + sql.replace("%s", "?"), params)
            plans.append(" / ".join(row[-1] for row in cursor.fetchall()))
            cursor.close()
        return execute(sql, params, many, context)

    with connection.execute_wrapper(explain):
        claim(64)
    assert len(plans) == 2, plans
    assert all("USING INDEX delivery_" in plan for plan in plans), plans
    assert not any("TEMP B-TREE" in plan for plan in plans), plans


def test_a_receipt_signed_with_the_wrong_secret_is_refused(client, visitor, running_partner):
    make_partner(endpoint=running_partner.url, secret="not-the-partners-secret")
    sign_up_and_confirm(client, visitor)
    with Poster() as http:
        deliver_batch(http)
    delivery = Delivery.objects.get()
    assert delivery.state == DeliveryState.PENDING
    assert "HTTP 401" in delivery.last_error  # the partner refused our signature first
    assert Envelope.objects.filter(purpose=Purpose.LEAD).count() == 1


def test_backoff_grows_and_jitters():
    steps = [backoff(n).total_seconds() for n in range(1, 12)]
    assert 5 <= steps[0] <= 10 and steps[-1] <= 3600
    assert steps[5] > steps[1]
    assert len({backoff(3) for _ in range(10)}) > 1


def test_a_lead_past_the_maximum_age_is_shredded_instead_of_retried(
    client, visitor, running_partner
):
    make_partner(endpoint="http://127.0.0.1:9", secret=running_partner.secret)
    sign_up_and_confirm(client, visitor)
    Delivery.objects.update(released_at=timezone.now() - dt.timedelta(hours=73))
    with Poster() as http:
        deliver_batch(http)
    assert Delivery.objects.get().state == DeliveryState.FAILED
    assert not Envelope.objects.filter(purpose=Purpose.LEAD).exists()


@pytest.mark.promise("P7")
@pytest.mark.promise("P5")
def test_the_partner_gets_only_what_the_referral_needs(client, visitor):
    """Necessity: the lead carries the declared sign-up fields, the consent evidence and the
    ids that tie receipts and rights requests to it; nothing about the visit (no IP, no user
    agent, no cookie choice, no referrer)."""
    import json

    from tillit.partners.delivery import payload

    make_partner()
    sign_up_and_confirm(
        client,
        {**visitor, "website": "", "utm_source": "campaign-canary"},
    )
    delivery = Delivery.objects.select_related("envelope", "subject").get()
    body = json.loads(payload(delivery))
    assert set(body) == {
        "lead_id",
        "subject_ref",
        "name",
        "email",
        "phone",
        "country",
        "language",
        "confirmed_at",
        "consents",
    }
    assert all(
        set(c) == {"purpose", "action", "lawful_basis", "policy_version", "text_hash",
                   "receipt_id", "at"}
        for c in body["consents"]
    )  # fmt: skip
    assert "campaign-canary" not in json.dumps(body) and "127.0.0.1" not in json.dumps(body)


@pytest.mark.promise("P17")
def test_the_sending_threads_open_no_database_connections(client, visitor, running_partner):
    """A batch is sent by several threads at once; were they to query the database, each would
    open a connection of its own and keep it (on PostgreSQL, until the server ran out of
    them). Everything they need is read before they start."""
    from django.db.backends.signals import connection_created

    make_partner(endpoint=running_partner.url, secret=running_partner.secret)
    for i in range(4):
        sign_up_and_confirm(client, {**visitor, "email": f"traad-{i}@example.com"})
    opened = []

    def count(sender, connection, **kwargs):
        opened.append(connection.alias)

    connection_created.connect(count)
    try:
        with Poster() as http:
            assert deliver_batch(http) == 4
    finally:
        connection_created.disconnect(count)
    assert set(Delivery.objects.values_list("state", flat=True)) == {DeliveryState.DELIVERED}
    assert opened == [], f"{len(opened)} database connections were opened while sending"


@pytest.mark.promise("P17")
def test_the_worker_sends_the_next_batch_while_it_records_the_last(
    client, visitor, running_partner, monkeypatch
):
    """Pipeline: a step sends a batch and then records the one sent in the step before; the
    leads are at the partner before they are recorded, and a step says 0 only when nothing is
    waiting and nothing is due."""
    from tillit.partners import delivery

    make_partner(endpoint=running_partner.url, secret=running_partner.secret)
    subjects = [
        sign_up_and_confirm(client, {**visitor, "email": f"roer-{i}@example.com"}) for i in range(3)
    ]
    refs = {str(s.id) for s in subjects}
    leased_while_recording = []
    real_finish = delivery.finish

    def finish(sending):
        leased_while_recording.append(Delivery.objects.filter(state=DeliveryState.LEASED).count())
        return real_finish(sending)

    monkeypatch.setattr(delivery, "finish", finish)
    with Poster() as http:
        pipeline = delivery.Pipeline(http, batch=2)
        assert pipeline.step() == 2  # two sent, nothing before them to record
        assert Delivery.objects.filter(state=DeliveryState.LEASED).count() == 2
        assert pipeline.step() == 1 + 2  # the third sent, then the first two recorded
        assert Delivery.objects.filter(state=DeliveryState.DELIVERED).count() == 2
        assert pipeline.step() == 1  # the third recorded
        assert pipeline.step() == 0
        pipeline.close()
    # When the first two were recorded, the third was already claimed and sent.
    assert leased_while_recording == [3, 1]
    assert set(Delivery.objects.values_list("state", flat=True)) == {DeliveryState.DELIVERED}
    stored = [x["subject_ref"] for x in running_partner.leads() if x["subject_ref"] in refs]
    assert sorted(stored) == sorted(refs)  # each once
    assert not Envelope.objects.filter(purpose=Purpose.LEAD).exists()


@pytest.mark.promise("P17")
def test_a_slow_step_never_lets_the_worker_claim_its_own_batch_again(
    client, visitor, running_partner
):
    """A batch waits a whole step to be recorded; were its lease to run out meanwhile (a step
    slowed by a mail server or a silent partner), the worker would claim and send it again and
    record neither. Each step renews the lease of what it has sent."""
    from tillit.partners.delivery import Pipeline

    make_partner(endpoint=running_partner.url, secret=running_partner.secret)
    subject = sign_up_and_confirm(client, visitor)
    with Poster() as http:
        pipeline = Pipeline(http)
        assert pipeline.step() == 1
        # The rest of the step took longer than the lease.
        Delivery.objects.update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
        assert pipeline.step() == 1  # recorded; nothing claimed again
        pipeline.close()
    delivery = Delivery.objects.get()
    assert delivery.state == DeliveryState.DELIVERED and delivery.attempts == 1
    assert [x["subject_ref"] for x in running_partner.leads()].count(str(subject.id)) == 1


@pytest.mark.promise("P17")
def test_a_batch_in_flight_is_recorded_when_the_worker_stops(client, visitor, running_partner):
    """`tillit worker` on SIGTERM: the loop stops after its step and records what it sent."""
    from tillit.audit.models import AuditEvent as Event
    from tillit.worker.loop import Loop

    make_partner(endpoint=running_partner.url, secret=running_partner.secret)
    sign_up_and_confirm(client, visitor)
    loop = Loop(interval=0.01)
    step = loop.process_one

    def one_step_then_stop():
        done = step()
        loop.running = False  # as the SIGTERM handler does
        assert Delivery.objects.get().state == DeliveryState.LEASED  # sent, not yet recorded
        return done

    loop.process_one = one_step_then_stop
    loop.forever()
    assert Delivery.objects.get().state == DeliveryState.DELIVERED
    assert Event.objects.filter(action="lead.delivered").count() == 1


@pytest.mark.promise("P17")
def test_a_worker_that_dies_with_a_batch_in_flight_loses_nothing_and_doubles_nothing(
    client, visitor, running_partner
):
    """The batch was sent, the worker stalled (or died) before recording it: its lease runs
    out, another worker sends it again under the same Idempotency-Key, and the partner keeps
    one lead. If the stalled worker then wakes and records, it changes nothing."""
    from tillit.partners.delivery import Pipeline

    make_partner(endpoint=running_partner.url, secret=running_partner.secret)
    subject = sign_up_and_confirm(client, visitor)
    with Poster() as http:
        stalled = Pipeline(http)
        assert stalled.step() == 1
        stalled.sent[0].outcomes[0].result()  # the partner has it; nothing is recorded
        Delivery.objects.update(lease_expires_at=timezone.now() - dt.timedelta(seconds=1))
        assert deliver_batch(http) == 1  # another worker takes the lease over
        after = Delivery.objects.values("state", "attempts", "lease_token").get()
        stalled.close()  # the stalled worker records its (stale) batch
    assert Delivery.objects.values("state", "attempts", "lease_token").get() == after
    assert after["state"] == DeliveryState.DELIVERED and after["attempts"] == 2
    assert [x["subject_ref"] for x in running_partner.leads()].count(str(subject.id)) == 1
    assert AuditEvent.objects.filter(action="lead.delivered", target=subject.ref).count() == 1


def test_a_host_outside_ascii_is_written_in_its_idna_form():
    from tillit.partners.posting import ascii_url

    assert ascii_url("http://u:p@bølgen.example.com:8080/x?y") == (
        "http://u:p@xn--blgen-vua.example.com:8080/x?y"
    )
    assert ascii_url("http://[::1]:9/leads") == "http://[::1]:9/leads"


@pytest.mark.promise("P17")
@pytest.mark.parametrize(
    ("host", "error"),
    [("bølgen.invalid", "network: "), ("ø" * 70 + ".invalid", "request not sent: ")],
    ids=["idna name", "no idna name"],
)
def test_a_host_outside_ascii_is_tried_by_its_idna_name_or_fails_unsent(
    client, visitor, host, error
):
    """'bølgen.invalid' is sent for as 'xn--blgen-vua.invalid' (the name DNS knows), so the
    attempt reaches the network (which has no such host); a host IDNA cannot write (a label
    over 63 letters) fails unsent. Either way the attempt is recorded and retried later, and
    the worker goes on."""
    make_partner(endpoint=f"http://{host}:9", secret="shared-secret-for-tests")
    sign_up_and_confirm(client, visitor)
    with Poster() as http:
        assert deliver_batch(http) == 1
    delivery = Delivery.objects.get()
    assert delivery.state == DeliveryState.PENDING and delivery.attempts == 1
    assert delivery.last_error.startswith(error)
