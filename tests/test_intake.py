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
    real = signup.register

    def flaky(one, *args, **kwargs):
        if one.email.reveal() == "p1@example.com":
            raise RuntimeError("p1@example.com")  # an error that quotes the address
        return real(one, *args, **kwargs)

    monkeypatch.setattr(intake, "register", flaky)
    with caplog.at_level(logging.ERROR, "tillit.subjects"):
        assert intake.process() == 2
    assert Subject.objects.count() == 2 and intake.waiting() == 1
    assert "not recorded (RuntimeError)" in caplog.text and "p1@" not in caplog.text
    monkeypatch.setattr(intake, "register", real)
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
