"""Partners without a rights API (an e-mail to their privacy contact with a one-time link to
answer, reminders every 5 days, escalation at 14), and portability to another company the
person names."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import time_machine
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.conftest import sign_in
from tests.rights_helpers import ask, code_for, drain_tasks, kari, prove, requested
from tillit.audit.models import AuditEvent
from tillit.partners import opendsr
from tillit.rights import fanout
from tillit.rights.models import PartnerTask, RightsRequest, TaskState
from tillit.vault.models import Envelope, Purpose

__all__ = ["kari"]  # a fixture, used by name

pytestmark = pytest.mark.django_db(transaction=True)

CONTACT = "privacy@broker-a.example.com"
ANSWER_LINK = re.compile(r"http://[^\s]+/privacy/partner-answer/[^\s/]+/")


@pytest.fixture
def by_email(kari):
    """Kari's partner has no rights API: only a privacy contact."""
    kari.partner.rights_api = False
    kari.partner.privacy_email = CONTACT
    kari.partner.save()
    return kari


def step(when: datetime | None = None) -> int:
    with httpx.Client() as http:
        if when is None:
            return fanout.step(http)
        with time_machine.travel(when):
            return fanout.step(http)


def partner_mails() -> list:
    drain_tasks()
    return [m for m in mail.outbox if m.to == [CONTACT]]


def answer_path(message) -> str:
    return ANSWER_LINK.search(message.body).group(0).split("://", 1)[1].split("/", 1)[1]


@pytest.mark.promise("P29")
@pytest.mark.promise("P24")
def test_a_partner_without_an_api_gets_a_link_reminders_and_then_the_privacy_officer(
    client, by_email, visitor
):
    request = requested(client, "erasure")
    start = request.received_at
    assert step() == 1
    [first] = partner_mails()
    assert "erasure" in first.subject.lower() or "delete" in first.subject.lower()
    # The e-mail names nobody: who the person is waits behind the link.
    for canary in (visitor["name"], visitor["email"], "912", str(by_email.id)):
        assert canary not in first.body and canary not in first.subject
    assert step() == 0  # nothing more until a reminder is due
    assert step(start + timedelta(days=5, minutes=1)) == 1
    assert step(start + timedelta(days=10, minutes=2)) == 1
    reminders = partner_mails()[1:]
    assert [m.subject.startswith("Reminder") for m in reminders] == [True, True]
    assert PartnerTask.objects.get().reminders == 2
    assert all(ANSWER_LINK.search(m.body) for m in reminders)
    # Fourteen days without an answer: the privacy officer takes over.
    assert step(start + timedelta(days=14, minutes=1)) == 1
    assert PartnerTask.objects.get().state == TaskState.FAILED
    drain_tasks()
    [alarm] = [m for m in mail.outbox if m.to == ["personvern@example.com"]]
    assert "partner unreachable" in alarm.subject and "Broker A" in alarm.body
    assert len(partner_mails()) == 3  # no reminders after the escalation
    # A late answer, through the first e-mail's link, still counts: the request is completed
    # and the person is told who was told.
    path = "/" + answer_path(first)
    assert client.get(path).status_code == 200
    done = client.post(path, {"answer": "done"})
    assert done.status_code == 200
    request.refresh_from_db()
    assert request.state == "completed"
    drain_tasks()
    [told] = [m for m in mail.outbox if m.to == [visitor["email"]] and "behandlet" in m.subject]
    assert "Broker A" in told.body
    # Once: the link is dead after the answer.
    assert client.post(path, {"answer": "done"}).status_code == 410
    assert client.get(path).status_code == 410


@pytest.mark.promise("P26")
def test_the_answer_page_shows_the_correction_and_refuses_an_empty_answer(client, by_email):
    challenge = ask(client, "rectification", "kari@example.com")
    prove(client, challenge, code_for("kari@example.com"))
    client.post(f"/privacy/confirm/{challenge}/", {"name": "Kari Rettet"})
    step()
    path = "/" + answer_path(partner_mails()[0])
    page = client.get(path).content.decode()
    assert "Kari Rettet" in page and str(by_email.id) in page
    opened = AuditEvent.objects.filter(action="rights.partner_opened").get()
    assert opened.actor == "partner:broker-a"
    empty = client.post(path, {})
    assert empty.status_code == 400 and "Please choose an answer" in empty.content.decode()
    assert PartnerTask.objects.get().state == TaskState.PENDING
    assert client.post(path, {"answer": "done"}).status_code == 200
    # Applied everywhere: the corrected values are shredded with the request closed.
    assert RightsRequest.objects.get().state == "completed"
    assert not Envelope.objects.filter(
        purpose=Purpose.REQUEST, id=RightsRequest.objects.get().details_id
    ).exists()


@pytest.mark.promise("P25")
@pytest.mark.promise("P16")
def test_an_uploaded_answer_is_sealed_and_reaches_the_person_in_the_zip(client, by_email):
    request = requested(client, "access")
    step()
    path = "/" + answer_path(partner_mails()[0])
    assert client.get(path).status_code == 200
    bare = client.post(path, {"answer": "done"})
    assert bare.status_code == 400 and "upload the person" in bare.content.decode()
    program = SimpleUploadedFile("data.exe", b"MZ", content_type="application/octet-stream")
    wrong = client.post(path, {"answer": "done", "file": program})
    assert wrong.status_code == 400 and "JSON, CSV" in wrong.content.decode()
    held = json.dumps({"records": [{"name": "Kari Nordmann", "loan": "canary-loan-4711"}]})
    upload = SimpleUploadedFile("../../kari data.json", held.encode(), "application/json")
    assert client.post(path, {"answer": "done", "file": upload}).status_code == 200
    # At rest until the export is made: sealed, never readable.
    sealed = Envelope.objects.get(purpose=Purpose.PARTNER_ANSWER)
    assert b"canary-loan-4711" not in bytes(sealed.ciphertext)
    mail.outbox.clear()
    drain_tasks()
    [done] = [m for m in mail.outbox if m.to == ["kari@example.com"]]
    assert not Envelope.objects.filter(purpose=Purpose.PARTNER_ANSWER).exists()
    link = re.search(r"/privacy/download/[^\s/]+/", done.body).group(0)
    archive = zipfile.ZipFile(io.BytesIO(client.post(link).content))
    name = "from-partners/broker-a-kari-data.json"
    assert name in archive.namelist()
    assert json.loads(archive.read(name)) == json.loads(held)
    listed = json.loads(archive.read("data.json"))["held_by_partners"]
    assert listed == [{"holder": "Broker A", "file": name}]
    request.refresh_from_db()
    assert request.export_id is None  # downloaded once, shredded


@pytest.mark.promise("P25")
def test_a_dead_or_forged_answer_link_or_a_huge_file_changes_nothing(client, by_email):
    requested(client, "access")
    step()
    path = "/" + answer_path(partner_mails()[0])
    forged = path.replace(path.split("/")[-2], path.split("/")[-2][:-3] + "abc")
    assert client.get(forged).status_code == 410
    assert client.post(forged, {"answer": "no_data"}).status_code == 410
    with time_machine.travel(datetime.now(UTC) + timedelta(days=101)):
        assert client.get(path).status_code == 410
    huge = client.post(path, {"answer": "no_data"}, CONTENT_LENGTH=str(11 * 1024 * 1024))
    assert huge.status_code == 413 and "10 MB" in huge.content.decode()
    assert PartnerTask.objects.get().state == TaskState.PENDING
    assert client.post(path, {"answer": "no_data"}).status_code == 200
    assert PartnerTask.objects.get().answer == "no_data"


@pytest.mark.promise("P24")
def test_two_workers_never_mail_a_partner_twice(client, by_email):
    requested(client, "erasure")
    task = PartnerTask.objects.select_related("partner", "request").get()
    now = datetime.now(UTC)
    fanout.by_email(task, now)
    fanout.by_email(task, now)  # the same stale view of the task, as a second worker has
    assert len(partner_mails()) == 1


@pytest.mark.promise("P28")
def test_portability_sends_a_copy_to_the_company_the_person_names(client, by_email):
    challenge = ask(client, "portability", "kari@example.com")
    prove(client, challenge, code_for("kari@example.com"))
    named = {"recipient_name": "Ny Bank ASA", "recipient_email": "data@nybank.example.com"}
    unconfirmed = client.post(f"/privacy/confirm/{challenge}/", named)
    assert unconfirmed.status_code == 400
    assert "Bekreft" in unconfirmed.content.decode()
    assert not RightsRequest.objects.exists()
    bad = client.post(
        f"/privacy/confirm/{challenge}/",
        {"recipient_name": "Ny Bank ASA", "recipient_email": "nybank", "confirm_transfer": "on"},
    )
    assert bad.status_code == 400 and not RightsRequest.objects.exists()
    sent = client.post(f"/privacy/confirm/{challenge}/", {**named, "confirm_transfer": "on"})
    assert sent.status_code == 302
    step()
    upload = SimpleUploadedFile("held.csv", b"name,loan\nKari,canary-4712\n", "text/csv")
    client.post("/" + answer_path(partner_mails()[0]), {"answer": "done", "file": upload})
    mail.outbox.clear()
    drain_tasks()
    [person] = [m for m in mail.outbox if m.to == ["kari@example.com"]]
    [company] = [m for m in mail.outbox if m.to == ["data@nybank.example.com"]]
    assert "Ny Bank ASA" in person.body and "data@nybank.example.com" in person.body
    assert "artikkel 20" in company.body
    own = re.search(r"/privacy/download/[^\s/]+/", person.body).group(0)
    theirs = re.search(r"/privacy/download/[^\s/]+/", company.body).group(0)
    assert own != theirs
    for link in (theirs, own):
        got = client.post(link)
        assert got.status_code == 200
        archive = zipfile.ZipFile(io.BytesIO(got.content))
        assert archive.read("from-partners/broker-a-held.csv").endswith(b"canary-4712\n")
        assert client.post(link).status_code == 410  # each link once
    # The recipient's name and address were only passing through.
    request = RightsRequest.objects.get()
    assert request.details_id is None or not Envelope.objects.filter(id=request.details_id).exists()
    assert not Envelope.objects.filter(purpose__in=[Purpose.EXPORT, Purpose.REQUEST]).exists()


def _listening(partner, reference) -> None:
    """Point the test's partner at a running reference partner."""
    partner.endpoint = reference.url
    partner.save()
    partner.set_secret(reference.secret)


@pytest.mark.promise("P25")
@pytest.mark.promise("P30")
def test_a_refused_request_is_withdrawn_from_a_partner_that_has_not_acted(client, kari, tmp_path):
    from tests.processes import reference_partner
    from tillit.rights import actions

    # This partner holds each request for an hour before carrying it out.
    with reference_partner(tmp_path / "partner", PARTNER_DSR_HOLD_SECONDS="3600") as ref:
        _listening(kari.partner, ref)
        request = requested(client, "access")
        assert step() == 1
        task = PartnerTask.objects.select_related("partner").get()
        assert task.state == TaskState.PENDING
        with pytest.raises(actions.CannotRefuse):
            actions.refuse(request, "   ", "staff:1")
        actions.refuse(request, "The same request for the fourth time this week.", "staff:1")
        with pytest.raises(actions.CannotRefuse):
            actions.refuse(request, "again", "staff:1")
        assert PartnerTask.objects.get().state == TaskState.CANCELLING
        assert step() == 1
        assert PartnerTask.objects.get().state == TaskState.CANCELLED
        with httpx.Client() as http:
            at_partner = opendsr.get(http, task.partner, f"/requests/{task.id}")
        assert at_partner["request_status"] == "cancelled"
    request.refresh_from_db()
    assert (request.state, request.outcome) == ("refused", "refused")
    drain_tasks()
    [told] = [
        m
        for m in mail.outbox
        if m.to == ["kari@example.com"]
        and request.reference in m.subject
        and "kan ikke" in m.subject
    ]
    assert "fourth time this week" in told.body and "Datatilsynet" in told.body
    assert not Envelope.objects.filter(purpose=Purpose.REQUEST).exists()


@pytest.mark.promise("P25")
def test_a_refusal_after_the_partner_acted_keeps_the_partners_answer(client, kari, tmp_path):
    import time

    from tests.processes import reference_partner
    from tillit.rights import actions

    with reference_partner(tmp_path / "partner", PARTNER_DSR_HOLD_SECONDS="1") as ref:
        _listening(kari.partner, ref)
        request = requested(client, "erasure")
        step()
        assert PartnerTask.objects.get().state == TaskState.PENDING
        time.sleep(1.5)  # the partner carries it out before it hears of the refusal
        actions.refuse(request, "Sent by mistake, says the person on the phone.", "staff:1")
        assert PartnerTask.objects.get().state == TaskState.CANCELLING
        step()
    # The partner had already erased: that is what the record says, not "withdrawn".
    assert PartnerTask.objects.get().state == TaskState.COMPLETED


@pytest.mark.promise("P21")
def test_staff_refuse_from_the_console_with_a_reason(client, kari, privacy_officer):
    request = requested(client, "access")
    sign_in(client, privacy_officer)
    url = "/console/rights/rightsrequest/"
    chosen = {"action": "refuse_request", "_selected_action": [str(request.id)]}
    form = client.post(url, chosen)
    assert form.status_code == 200 and "Art. 12(5)" in form.content.decode()
    client.post(url, {**chosen, "reason": "Manifestly unfounded: see case 12."})
    request.refresh_from_db()
    assert request.state == "refused" and request.refusal_reason.startswith("Manifestly")
    assert PartnerTask.objects.get().state == TaskState.CANCELLED  # never sent: just dropped
    refused = AuditEvent.objects.get(action="rights.refused")
    assert refused.actor == f"staff:{privacy_officer.pk}"


@pytest.mark.promise("P25")
def test_staff_complete_an_e_mail_partners_part_by_hand(client, by_email, privacy_officer):
    request = requested(client, "erasure")
    step()
    sign_in(client, privacy_officer)
    client.post(
        "/console/rights/rightsrequest/",
        {"action": "complete_by_hand", "_selected_action": [str(request.id)]},
    )
    task = PartnerTask.objects.get()
    assert task.state == TaskState.COMPLETED and task.answer == "done"
    request.refresh_from_db()
    assert request.state == "completed"
    done = AuditEvent.objects.get(action="rights.partner_done")
    assert done.actor == f"staff:{privacy_officer.pk}"


@pytest.mark.promise("P29")
def test_a_norwegian_partner_is_written_to_and_answers_in_norwegian(client, by_email):
    by_email.partner.language = "nb"
    by_email.partner.save()
    requested(client, "erasure")
    step()
    [message] = partner_mails()
    assert message.subject.startswith("En henvendelse om rettigheter som dere må svare på")
    path = "/" + answer_path(message)
    assert path.startswith("/privacy/partner-answer/")  # bokmål has no prefix
    page = client.get(path).content.decode()
    assert 'lang="nb"' in page


@pytest.mark.promise("P25")
def test_a_part_the_partner_answers_while_staff_mark_it_done_is_kept_as_the_partner_said(
    client, by_email, privacy_officer, monkeypatch
):
    """The partner's answer through its link lands between the console reading the open parts
    and marking them done: staff are told, and the partner's answer stands."""
    request = requested(client, "erasure")
    step()
    staff_answer = fanout.answered

    def partner_first(task, answer, upload, actor=""):
        staff_answer(task, "no_data", None)  # the partner, through its link, a moment earlier
        staff_answer(task, answer, upload, actor)

    monkeypatch.setattr(fanout, "answered", partner_first)
    sign_in(client, privacy_officer)
    page = client.post(
        "/console/rights/rightsrequest/",
        {"action": "complete_by_hand", "_selected_action": [str(request.id)]},
        follow=True,
    )
    assert page.status_code == 200
    assert "had answered already" in page.content.decode()
    task = PartnerTask.objects.get()
    assert task.state == TaskState.COMPLETED and task.answer == "no_data"
    done = AuditEvent.objects.get(action="rights.partner_done")
    assert done.actor == f"partner:{task.partner.slug}"
