import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone

from tillit.audit.models import AuditEvent
from tillit.consent.models import ConsentRecord
from tillit.partners.models import Delivery, DeliveryState
from tillit.subjects.models import Subject
from tillit.subjects.retention import fail_undeliverable, shred_unconfirmed
from tillit.subjects.signup import confirmation_token
from tillit.vault.models import Envelope, Purpose

pytestmark = pytest.mark.django_db


def leads() -> int:
    return Envelope.objects.filter(purpose=Purpose.LEAD).count()


@pytest.mark.promise("P16")
def test_an_unconfirmed_sign_up_is_shredded_after_48_hours(client, partner, visitor):
    client.post("/", visitor)
    now = timezone.now()
    assert shred_unconfirmed(now + dt.timedelta(hours=47)) == 0 and leads() == 1
    assert shred_unconfirmed(now + dt.timedelta(hours=49)) == 1
    subject = Subject.objects.get()
    assert subject.state == "expired" and subject.email_index == "" and leads() == 0
    assert Delivery.objects.get().state == DeliveryState.CANCELLED
    assert ConsentRecord.objects.filter(subject=subject).exists()  # the evidence stays
    assert AuditEvent.objects.filter(action="subject.expired").exists()


@pytest.mark.promise("P16")
def test_the_same_address_can_sign_up_again_after_expiry(client, partner, visitor):
    client.post("/", visitor)
    shred_unconfirmed(timezone.now() + dt.timedelta(hours=49))
    client.post("/", visitor)
    assert Subject.objects.filter(state="pending").count() == 1


@pytest.mark.promise("P16")
def test_an_undeliverable_lead_is_shredded_after_72_hours_as_a_failed_case(
    client, partner, visitor
):
    client.post("/", visitor)
    client.post(f"/confirm/{confirmation_token(Subject.objects.get())}/")
    now = timezone.now()
    assert fail_undeliverable(now + dt.timedelta(hours=71)) == 0 and leads() == 1
    assert fail_undeliverable(now + dt.timedelta(hours=73)) == 1
    delivery = Delivery.objects.get()
    assert delivery.state == DeliveryState.FAILED and delivery.envelope_id is None
    assert leads() == 0
    assert AuditEvent.objects.filter(action="lead.failed").exists()


def test_prune_applies_every_rule(capsys, db):
    call_command("prune")
    out = capsys.readouterr().out
    assert "shred_unconfirmed: 0" in out and "fail_undeliverable: 0" in out
