"""Delivery to the reference partner, running as a separate process over real HTTP."""

import datetime as dt

import httpx
import pytest
from django.utils import timezone

from tests.conftest import make_partner
from tests.processes import reference_partner
from tillit.audit.models import AuditEvent
from tillit.partners.delivery import backoff, deliver_batch
from tillit.partners.models import Delivery, DeliveryState
from tillit.subjects.models import Subject
from tillit.subjects.signup import confirmation_token
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
    with httpx.Client() as http:
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
    with httpx.Client() as http:
        assert deliver_batch(http) == 0
    assert Delivery.objects.get().state == DeliveryState.WAITING


def test_a_partner_that_is_down_is_retried_later(client, visitor, running_partner):
    partner = make_partner(endpoint="http://127.0.0.1:9", secret=running_partner.secret)
    sign_up_and_confirm(client, visitor)
    with httpx.Client() as http:
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


def test_a_receipt_signed_with_the_wrong_secret_is_refused(client, visitor, running_partner):
    make_partner(endpoint=running_partner.url, secret="not-the-partners-secret")
    sign_up_and_confirm(client, visitor)
    with httpx.Client() as http:
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
    with httpx.Client() as http:
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
        with httpx.Client() as http:
            assert deliver_batch(http) == 4
    finally:
        connection_created.disconnect(count)
    assert set(Delivery.objects.values_list("state", flat=True)) == {DeliveryState.DELIVERED}
    assert opened == [], f"{len(opened)} database connections were opened while sending"
