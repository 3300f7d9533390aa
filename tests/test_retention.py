import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone

from tillit.audit.models import AuditEvent
from tillit.consent.models import ConsentRecord
from tillit.partners.models import Delivery, DeliveryState
from tillit.subjects.confirmation import confirmation_token
from tillit.subjects.models import Subject
from tillit.subjects.retention import fail_undeliverable, shred_unconfirmed
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


@pytest.mark.promise("P3")
@pytest.mark.django_db(transaction=True)
def test_a_confirmation_e_mail_that_failed_is_tried_again_until_it_goes(
    client, partner, visitor, settings, tmp_path
):
    """The mail spool's disk was full (here: its directory is a file), so the job failed;
    it is tried again after a minute, then two, and goes once the disk is back."""
    from django.core import mail
    from django.tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    from tests.rights_helpers import drain_tasks
    from tillit.worker.jobs import retry_failed_mail

    blocked = tmp_path / "spool"
    blocked.write_text("")  # not a directory: every write into it fails
    backend = {"BACKEND": "tillit.core.mail.EmlFileBackend", "OPTIONS": {"directory": str(blocked)}}
    settings.MAILERS = {"default": backend}
    client.post("/", visitor)
    drain_tasks()
    job = DBTaskResult.objects.get(task_path__endswith="send_confirmation")
    assert job.status == TaskResultStatus.FAILED and "MailNotSent" in job.exception_class_path
    now = timezone.now()
    assert retry_failed_mail(now) == 0  # not yet: a minute first
    assert retry_failed_mail(now + dt.timedelta(seconds=61)) == 1
    drain_tasks()
    job.refresh_from_db()
    assert job.status == TaskResultStatus.FAILED and len(job.worker_ids) == 2
    assert retry_failed_mail(now + dt.timedelta(seconds=62)) == 0  # the wait doubled
    blocked.unlink()
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    assert retry_failed_mail(timezone.now() + dt.timedelta(minutes=3)) == 1
    drain_tasks()
    assert DBTaskResult.objects.get(id=job.id).status == TaskResultStatus.SUCCESSFUL
    assert [m.to for m in mail.outbox] == [[visitor["email"]]]
    # Past the link's lifetime, an e-mail that still fails is left failed.
    settings.MAILERS = {"default": backend}
    blocked.write_text("")
    client.post("/", {**visitor, "email": "per@example.com"})
    drain_tasks()
    later = timezone.now() + dt.timedelta(hours=settings.UNCONFIRMED_MAX_AGE_HOURS, minutes=1)
    assert retry_failed_mail(later) == 0


@pytest.mark.django_db(transaction=True)
def test_an_address_that_cannot_carry_an_e_mail_is_not_tried_again(db):
    from django.tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    from tillit.worker.jobs import retry_failed_mail

    job = DBTaskResult.objects.create(
        status=TaskResultStatus.FAILED,
        args_kwargs={"args": [], "kwargs": {}},
        task_path="tillit.subjects.tasks.send_confirmation",
        queue_name="default",
        backend_name="default",
        enqueued_at=timezone.now(),
        finished_at=timezone.now() - dt.timedelta(hours=1),
        worker_ids=["w"],
        exception_class_path="tillit.core.mail.MailNotSent",
        traceback="MailNotSent: confirm e-mail not sent: the address is not one plain address",
    )
    assert retry_failed_mail(timezone.now()) == 0
    DBTaskResult.objects.filter(id=job.id).update(
        traceback="MailNotSent: confirm e-mail not sent: OSError"
    )
    assert retry_failed_mail(timezone.now()) == 1
