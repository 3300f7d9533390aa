"""A sign-up in two halves (subjects/intake.py): the request writes one sealed row, the worker
records the rest, exactly once, whatever fails in between."""

from __future__ import annotations

import logging

import pytest
from django.core import mail
from django.test import Client
from django_tasks_db.models import DBTaskResult

from tests.conftest import CANARY_EMAIL, CANARY_NAME, make_partner
from tests.test_injection import row_counts
from tests.test_signup import everything_stored
from tests.visitors import record_signups
from tillit.audit.models import AuditEvent
from tillit.consent.models import ConsentRecord
from tillit.core.models import Attempts
from tillit.partners.models import Delivery, Partner
from tillit.policy import versions
from tillit.subjects import intake
from tillit.subjects.models import Subject
from tillit.vault.models import Envelope, EnvelopeQuerySet, Purpose
from tillit.worker.loop import Loop

pytestmark = pytest.mark.django_db


@pytest.fixture
def canary(visitor):
    return {**visitor, "name": CANARY_NAME, "email": CANARY_EMAIL}


@pytest.mark.promise("P3")
@pytest.mark.promise("P9")
def test_the_request_writes_one_sealed_row_and_the_worker_the_rest(partner, canary):
    before = row_counts()
    answer = Client().post("/", canary)
    assert answer.status_code == 302 and answer["Location"] == "/sent/"
    after = row_counts()
    changed = {
        table: after[table] - before[table] for table in after if after[table] != before[table]
    }
    assert changed == {"vault_envelope": 1}, changed
    # Besides, the count against the per-IP limit, which every web process must see before it
    # answers (row_counts leaves the counters out): a keyed hash and a number, no input.
    assert Attempts.objects.count() == 1
    assert Envelope.objects.get(purpose=Purpose.INTAKE)
    assert CANARY_EMAIL not in everything_stored() and CANARY_NAME not in everything_stored()

    assert intake.process() == 1
    subject = Subject.objects.get()
    assert subject.partner == partner and subject.state == "pending"
    assert not Envelope.objects.filter(purpose=Purpose.INTAKE).exists()
    assert Envelope.objects.filter(purpose=Purpose.LEAD).count() == 1
    assert Delivery.objects.filter(subject=subject).count() == 1
    assert set(ConsentRecord.objects.values_list("purpose", flat=True)) == {"referral", "offers"}
    assert DBTaskResult.objects.get().task_path.endswith("send_confirmation")
    assert AuditEvent.objects.filter(action="subject.registered").count() == 1
    assert CANARY_EMAIL not in everything_stored() and CANARY_NAME not in everything_stored()
    assert intake.process() == 0  # nothing is left to take


@pytest.mark.promise("P3")
@pytest.mark.django_db(transaction=True)  # the loop's step manages its connection as in a worker
def test_the_worker_records_each_sign_up_once_in_its_step(partner, visitor):
    for n in range(3):
        Client().post("/", {**visitor, "email": f"p{n}@example.com"})
    assert Loop().process_one() >= 3
    assert Subject.objects.count() == 3 and not intake.waiting()


@pytest.mark.promise("P3")
def test_a_crash_before_the_commit_records_nothing_and_the_next_step_everything(
    partner, visitor, monkeypatch
):
    for n in range(3):
        Client().post("/", {**visitor, "email": f"p{n}@example.com"})

    def power_cut(self):
        raise OSError("the worker died here")

    with monkeypatch.context() as patched:
        patched.setattr(EnvelopeQuerySet, "shred", power_cut)
        with pytest.raises(OSError):
            intake.process()
    assert not Subject.objects.exists() and not ConsentRecord.objects.exists()
    assert not DBTaskResult.objects.exists() and intake.waiting() == 3
    assert intake.process() == 3
    assert Subject.objects.count() == 3 and Delivery.objects.count() == 3
    assert DBTaskResult.objects.count() == 3 and intake.waiting() == 0


@pytest.mark.promise("P3")
def test_one_intake_that_cannot_be_recorded_stays_and_holds_up_nothing(
    partner, visitor, monkeypatch, caplog
):
    from tillit.subjects import signup

    for n in range(3):
        Client().post("/", {**visitor, "email": f"p{n}@example.com"})
    real, real_all = signup.register, signup.register_all

    def flaky(one, *args, **kwargs):
        if one.email.reveal() == "p1@example.com":
            raise RuntimeError("p1@example.com")  # an error that quotes the address
        return real(one, *args, **kwargs)

    def flaky_all(sent):
        # The batch writes what it can before the one it cannot take: all of it is undone.
        for one in sent:
            flaky(one.signup, one.method, policy_label=one.policy_label, at=one.at)
        raise AssertionError("not reached: the batch includes p1")

    monkeypatch.setattr(intake, "register", flaky)
    monkeypatch.setattr(intake, "register_all", flaky_all)
    with caplog.at_level(logging.WARNING, "tillit.subjects"):
        assert intake.process() == 2
    assert Subject.objects.count() == 2 and intake.waiting() == 1
    assert "recorded one by one (RuntimeError)" in caplog.text
    assert "not recorded (RuntimeError)" in caplog.text and "p1@" not in caplog.text
    monkeypatch.setattr(intake, "register", real)
    monkeypatch.setattr(intake, "register_all", real_all)
    assert intake.process() == 1 and Subject.objects.count() == 3


@pytest.mark.promise("P3")
def test_the_same_address_twice_in_one_batch_is_one_account(partner, visitor):
    Client().post("/", visitor)
    Client().post("/", {**visitor, "email": "KARI@example.com", "name": "Someone Else"})
    assert intake.process() == 2
    assert Subject.objects.count() == 1
    paths = sorted(t.task_path.rsplit(".", 1)[1] for t in DBTaskResult.objects.all())
    assert paths == ["send_confirmation", "send_confirmation"]  # the link, and once more


@pytest.mark.promise("P3")
def test_the_consent_is_recorded_under_the_version_and_time_of_the_form(partner, visitor):
    Client().post("/", visitor)
    sent_at = Envelope.objects.get(purpose=Purpose.INTAKE).created_at
    versions.publish("Ny versjon", "A new version", actor="staff:test")
    record_signups()
    record = ConsentRecord.objects.get(purpose="referral")
    assert record.policy_version == "2026-11-25"  # the data map's, in force when it was sent
    assert record.at == sent_at and Subject.objects.get().created_at == sent_at


@pytest.mark.promise("P3")
@pytest.mark.promise("P18")
@pytest.mark.django_db(transaction=True)  # the e-mail job runs as in a worker
def test_a_partner_that_leaves_before_the_worker_means_an_e_mail_and_nothing_kept(partner, visitor):
    Client().post("/en/", visitor)
    Partner.objects.filter(pk=partner.pk).update(active=False)
    record_signups()
    assert not Subject.objects.exists() and not intake.waiting()
    Loop().run_tasks()
    [message] = mail.outbox
    assert message.to == ["kari@example.com"] and "could not refer you" in message.subject
    assert "Nothing you typed has been kept" in message.body
    assert not Envelope.objects.exclude(purpose=Purpose.PARTNER_SECRET).exists()


@pytest.mark.promise("P18")
def test_the_form_knows_at_once_when_a_partner_saved_here_stops_serving_a_country(partner, visitor):
    assert Client().post("/", visitor).status_code == 302
    partner.countries = ["SE"]
    partner.save()
    answer = Client().post("/", {**visitor, "email": "other@example.com"})
    assert answer.status_code == 400 and "partner" in answer.content.decode()
    make_partner(slug="broker-b", countries=["NO"])
    assert Client().post("/", {**visitor, "email": "third@example.com"}).status_code == 302
    assert intake.waiting() == 2


def statements_to_record(count: int, visitor) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for n in range(count):
        Client().post("/", {**visitor, "email": f"batch{count}-{n}@example.com"})
    with CaptureQueriesContext(connection) as queries:
        assert intake.process() == count
    return len(queries)


@pytest.mark.promise("P3")
def test_a_batch_is_recorded_in_a_few_statements_and_one_e_mail_job_each(partner, visitor):
    """Ten sign-ups cost the worker five statements more than five do: the e-mail jobs (one
    INSERT each, through Django's Tasks API); subjects, consents, leads, deliveries and audit
    events are one INSERT per table for the whole batch."""
    five = statements_to_record(5, visitor)
    ten = statements_to_record(10, visitor)
    assert ten - five == 5, (five, ten)
    assert Subject.objects.count() == 15 and Delivery.objects.count() == 15
    assert AuditEvent.objects.filter(action="subject.registered").count() == 15
    assert ConsentRecord.objects.count() == 30 and DBTaskResult.objects.count() == 15


@pytest.mark.promise("P18")
def test_a_batch_fills_a_daily_cap_exactly_as_one_by_one(partner, visitor):
    """A partner capped at two a day gets two of a batch of five; the other partner for the
    country takes the rest, and nobody is turned away."""
    capped = make_partner(slug="capped", daily_cap=2, weight=1000)
    for n in range(5):
        Client().post("/", {**visitor, "email": f"cap-{n}@example.com"})
    assert intake.process() == 5
    assert Subject.objects.filter(partner=capped).count() == 2
    assert Subject.objects.filter(partner=partner).count() == 3
    assert Delivery.objects.filter(partner=capped).count() == 2
    # A later batch counts the deliveries already written: the cap holds.
    Client().post("/", {**visitor, "email": "cap-late@example.com"})
    assert intake.process() == 1
    assert Subject.objects.filter(partner=capped).count() == 2
