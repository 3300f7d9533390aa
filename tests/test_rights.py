"""The privacy centre: a right is asked for, the address proven with a one-time code, the
request recorded with its due date and its effect in tillit applied at once. And the impostor
suite: without the inbox, nobody reads or deletes another person's data."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail

from tests.conftest import sign_in
from tests.rights_helpers import ask, code_for, drain_tasks, kari, prove, requested, send
from tillit.consent.models import ConsentRecord
from tillit.rights import deadlines, verification
from tillit.rights.models import Challenge, RightsRequest
from tillit.subjects.models import State
from tillit.vault.models import Envelope, Purpose

__all__ = ["kari"]  # a fixture, used by name

# The task worker manages its own connections: outside a test transaction.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.promise("P29")
def test_erasure_with_the_code_removes_what_could_find_the_person(client, kari):
    challenge = ask(client, "erasure", "kari@example.com")
    assert prove(client, challenge, code_for("kari@example.com")).status_code == 302
    done = send(client, challenge)
    assert done.status_code == 302
    request = RightsRequest.objects.get()
    assert request.subject_id == kari.id and request.kind == "erasure"
    kari.refresh_from_db()
    assert (kari.state, kari.email_index, kari.phone_index) == (State.ERASED, "", "")
    withdrawn = ConsentRecord.objects.filter(subject=kari, action="withdrawn")
    assert set(withdrawn.values_list("purpose", flat=True)) == {"referral", "offers"}
    page = client.get(done["Location"]).content.decode()
    assert request.reference in page
    # The person gets the reference and the due date by e-mail.
    drain_tasks()
    received = [m for m in mail.outbox if request.reference in m.subject]
    assert received and received[0].to == ["kari@example.com"]
    # Nothing readable is left for the request but its answer address.
    assert set(Envelope.objects.values_list("purpose", flat=True)) <= {
        Purpose.REQUEST,
        Purpose.PARTNER_SECRET,
    }


@pytest.mark.promise("P31")
@pytest.mark.promise("P11")
def test_stopping_offers_withdraws_that_consent_at_once(client, kari):
    challenge = ask(client, "stop_offers", "kari@example.com", lang="/en")
    prove(client, challenge, code_for("kari@example.com"))
    send(client, challenge)
    latest = ConsentRecord.objects.filter(subject=kari, purpose="offers").order_by("-at").first()
    assert latest.action == "withdrawn" and latest.method == "privacy-centre"
    referral = ConsentRecord.objects.filter(subject=kari, purpose="referral").order_by("-at")
    assert referral.first().action == "given"
    assert RightsRequest.objects.get().language == "en"


@pytest.mark.promise("P25")
def test_an_unknown_address_gets_the_same_answer_and_learns_only_by_its_own_inbox(client, kari):
    known = client.post("/privacy/", {"kind": "access", "email": "kari@example.com"})
    unknown = client.post("/privacy/", {"kind": "access", "email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 302
    page_known = client.get(known["Location"]).content.decode()
    page_unknown = client.get(unknown["Location"]).content.decode()
    strip = re.compile(r'value="[^"]+"|"csrf": "[^"]+"|/privacy/verify/[0-9a-f-]+/')
    assert strip.sub("", page_known) == strip.sub("", page_unknown)
    # Both inboxes get a code; only the unknown one learns, after proving it, that we hold nothing.
    challenge = unknown["Location"].split("/")[-2]
    prove(client, challenge, code_for("nobody@example.com"))
    send(client, challenge)
    request = RightsRequest.objects.get()
    assert (request.subject, request.state, request.outcome) == (None, "completed", "no_data")


@pytest.mark.promise("P25")
def test_deadlines_are_one_calendar_month_clamped_to_the_month_end():
    gdpr = deadlines.law_for("NO")
    at = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
    assert deadlines.due(at, gdpr) == datetime(2026, 2, 28, 12, 0, tzinfo=UTC)
    leap = datetime(2028, 1, 31, tzinfo=UTC)
    assert deadlines.due(leap, gdpr) == datetime(2028, 2, 29, tzinfo=UTC)
    december = datetime(2026, 12, 15, tzinfo=UTC)
    assert deadlines.due(december, gdpr) == datetime(2027, 1, 15, tzinfo=UTC)
    assert deadlines.latest_extension(at, gdpr) == datetime(2026, 4, 30, 12, 0, tzinfo=UTC)


# --- The impostor suite ---------------------------------------------------------------------


@pytest.mark.promise("P29")
@pytest.mark.promise("P21")
def test_guessing_the_code_fails_after_five_tries_and_changes_nothing(client, kari):
    challenge = ask(client, "erasure", "kari@example.com")
    real = code_for("kari@example.com")
    wrong = [f"{(int(real) + n) % 10**6:06d}" for n in range(1, 6)]
    for attempt, guess in enumerate(wrong, start=1):
        answer = prove(client, challenge, guess)
        assert answer.status_code == 400
        text = answer.content.decode()
        assert ("prøv" in text.lower() or "forsøk" in text.lower()) if attempt < 5 else True
    # The real code no longer helps either: the challenge is locked.
    assert prove(client, challenge, real).status_code == 400
    assert send(client, challenge).status_code == 400
    kari.refresh_from_db()
    assert kari.state == State.ACTIVE and RightsRequest.objects.count() == 0


@pytest.mark.promise("P29")
def test_a_code_cannot_be_used_twice_or_after_it_expires(client, kari):
    challenge = ask(client, "access", "kari@example.com")
    code = code_for("kari@example.com")
    prove(client, challenge, code)
    send(client, challenge)
    assert prove(client, challenge, code).status_code == 400
    assert send(client, challenge).status_code == 400
    assert RightsRequest.objects.count() == 1
    late = ask(client, "erasure", "kari@example.com")
    late_code = code_for("kari@example.com")
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=11)):
        refused = prove(client, late, late_code)
    assert refused.status_code == 400
    assert "utløpt" in refused.content.decode()
    kari.refresh_from_db()
    assert kari.state == State.ACTIVE


@pytest.mark.promise("P29")
def test_a_proven_step_left_open_expires(client, kari):
    challenge = ask(client, "erasure", "kari@example.com")
    prove(client, challenge, code_for("kari@example.com"))
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=31)):
        assert send(client, challenge).status_code == 400
    kari.refresh_from_db()
    assert kari.state == State.ACTIVE


@pytest.mark.promise("P25")
@pytest.mark.parametrize(
    "variant",
    ["KARI@EXAMPLE.COM", " Kari@Example.com "],
    ids=["upper case", "mixed case with spaces"],
)
def test_a_case_variant_sends_the_code_to_that_address_not_to_the_asker(client, kari, variant):
    """A case variant names the same inbox: the code goes there, so only Kari can go on."""
    ask(client, "access", variant)
    drain_tasks()
    assert [m.to for m in mail.outbox] == [[variant.strip()]]


@pytest.mark.promise("P25")
def test_a_unicode_look_alike_of_the_address_matches_nobody(client, kari):
    """'\uff4b' (fullwidth k) is a letter of another inbox's address; lower-cased, the
    look-alike's index would be Kari's. Proving the look-alike's inbox gets no data of
    Kari's."""
    look_alike = "\uff4bari@example.com"
    challenge = ask(client, "erasure", look_alike)
    prove(client, challenge, code_for(look_alike))
    send(client, challenge)
    kari.refresh_from_db()
    assert kari.state == State.ACTIVE
    assert RightsRequest.objects.get().outcome == "no_data"


@pytest.mark.promise("P25")
def test_the_kelvin_sign_sends_the_code_to_the_inbox_it_stands_for(client, kari):
    """'\u212a' (the Kelvin sign) is, composed, the letter 'K': the code goes to
    Kari@example.com, Kari's own inbox, never to the asker's spelling, so only Kari can go
    on."""
    ask(client, "erasure", "\u212aari@example.com")
    drain_tasks()
    assert [m.to for m in mail.outbox] == [["Kari@example.com"]]
    kari.refresh_from_db()
    assert kari.state == State.ACTIVE


@pytest.mark.promise("P25")
def test_an_address_typed_decomposed_finds_its_account(client, kari, visitor):
    """Some keyboards write 'å' as 'a' and a combining ring (NFD): the same address, so the
    same account, and the code goes to the address as it signed up."""
    import unicodedata

    from tillit.subjects.models import Subject

    composed = "kåre@example.com"
    client.post("/", {**visitor, "email": composed})
    drain_tasks()
    kare = Subject.objects.exclude(id=kari.id).get()
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    challenge = ask(client, "access", decomposed)
    prove(client, challenge, code_for(composed))
    send(client, challenge)
    assert RightsRequest.objects.get().subject_id == kare.id


@pytest.mark.promise("P21")
def test_codes_to_one_address_are_limited(client, kari, settings):
    settings.RIGHTS_CODES_PER_ADDRESS_PER_HOUR = 2
    for _ in range(2):
        ask(client, "access", "kari@example.com")
    flood = client.post("/privacy/", {"kind": "access", "email": "KARI@example.com"})
    assert flood.status_code == 429
    assert Challenge.objects.count() == 2


@pytest.mark.promise("P21")
def test_code_checks_from_one_ip_are_limited_across_requests(client, kari, settings):
    settings.RIGHTS_CHECKS_PER_IP_PER_HOUR = 3
    first = ask(client, "access", "kari@example.com")
    second = ask(client, "erasure", "kari@example.com")
    right = code_for("kari@example.com")  # the second challenge's code
    for challenge in (first, first, second):
        assert prove(client, challenge, "000000").status_code == 400
    blocked = prove(client, second, right)
    assert blocked.status_code == 429
    assert "Too many" in blocked.content.decode() or "For mange" in blocked.content.decode()
    # Refused before it was compared: the right code did not count, nor did it prove anything.
    assert Challenge.objects.get(id=second).tries == 1
    assert Challenge.objects.get(id=second).verified_at is None


@pytest.mark.promise("P25")
def test_a_known_and_an_unknown_address_cost_the_same_work(client, kari):
    """Enumeration by timing: starting a request runs the same SQL statements, in the same
    order, and queues the same job, whether or not the address belongs to someone. (The
    timings themselves are in bench/rights.py.)"""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django_tasks_db.models import DBTaskResult

    def statements(address: str) -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            answer = client.post("/privacy/", {"kind": "erasure", "email": address})
        assert answer.status_code == 302
        # Ids, hashes and times differ; the statements and their order must not.
        return [re.sub(r"'[^']*'|\b\d+(\.\d+)?\b|%s", "?", q["sql"]) for q in queries]

    client.get("/privacy/")  # sessions, CSRF and caches warmed alike for both
    known = statements("kari@example.com")
    unknown = statements("nobody@example.com")
    assert known == unknown and len(known) > 3
    jobs = DBTaskResult.objects.filter(task_path__endswith="send_code")
    assert jobs.count() == 2


@pytest.mark.promise("P25")
def test_bad_input_is_named_in_the_visitors_language(client):
    answer = client.post("/privacy/", {"kind": "sell-my-data", "email": "not an address"})
    assert answer.status_code == 400
    text = answer.content.decode()
    assert "Velg ett av alternativene" in text and "ser ikke ut som en e-postadresse" in text
    assert Challenge.objects.count() == 0
    english = client.post("/en/privacy/", {"kind": "", "email": ""}).content.decode()
    assert "Please choose what you want to do" in english


@pytest.mark.promise("P16")
def test_a_challenge_keeps_no_readable_address_after_it_ends(client, kari):
    from django.utils import timezone

    from tillit.worker.retention import run_all

    ask(client, "access", "kari@example.com")
    drain_tasks()
    assert Envelope.objects.filter(purpose=Purpose.CHALLENGE).count() == 1
    run_all(timezone.now() + timedelta(minutes=11))
    assert Envelope.objects.filter(purpose=Purpose.CHALLENGE).count() == 0
    run_all(timezone.now() + timedelta(days=2))
    assert Challenge.objects.count() == 0
    assert verification.verified(Challenge.objects.values_list("id", flat=True).first()) is None


@pytest.mark.promise("P30")
def test_the_centre_tells_how_to_complain(client):
    page = client.get("/privacy/").content.decode()
    assert "Datatilsynet" in page and "Postboks 458 Sentrum" in page
    assert "personvern@example.com" in page


@pytest.mark.promise("P28")
def test_export_cells_never_run_as_spreadsheet_formulas():
    from tillit.rights.export import safe_cell

    for dangerous in ('=HYPERLINK("http://x.invalid")', "+1+1", "-2+3", "@SUM(A1)", "\tx"):
        assert safe_cell(dangerous).startswith("'")
    assert safe_cell("Kari Nordmann") == "Kari Nordmann" and safe_cell(None) == ""


@pytest.mark.promise("P25")
def test_an_extension_needs_a_reason_is_told_and_only_within_the_first_month(client, kari):
    from tillit.rights import actions

    request = requested(client, "access")
    with pytest.raises(actions.CannotExtend):
        actions.extend(request, "   ", "staff:1")
    with time_machine.travel(request.due_at + timedelta(minutes=1)):
        with pytest.raises(actions.CannotExtend):
            actions.extend(request, "Our partner needs more time.", "staff:1")
    mail.outbox.clear()
    extended = actions.extend(request, "Our partner needs more time.", "staff:1")
    law = deadlines.law_for("NO")
    assert extended.extended_until == deadlines.latest_extension(request.received_at, law)
    drain_tasks()
    [told] = [m for m in mail.outbox if "mer tid" in m.subject]
    assert told.to == ["kari@example.com"] and request.reference in told.subject
    assert "Our partner needs more time." in told.body
    with pytest.raises(actions.CannotExtend):
        actions.extend(extended, "Again.", "staff:1")


@pytest.mark.promise("P25")
def test_an_overdue_request_alarms_the_privacy_officer_once(client, kari):
    from tillit.worker.retention import run_all

    request = requested(client, "access")
    mail.outbox.clear()
    late = request.due_at + timedelta(hours=1)
    assert run_all(late)["alarm_overdue"] == 1
    assert run_all(late)["alarm_overdue"] == 0
    drain_tasks()
    [alarm] = [m for m in mail.outbox if m.to == ["personvern@example.com"]]
    assert request.reference in alarm.subject and "kari" not in alarm.body.lower()


def test_the_overdue_alarm_speaks_the_language_of_the_staff_member_at_that_address(
    client, kari, privacy_officer
):
    """The privacy contact's address is a staff member's who reads the console in bokmål:
    the alarm comes in bokmål; at an address that is nobody's account, in
    TILLIT_CONSOLE_LANGUAGE (English), as before."""
    from tillit.console.models import StaffProfile
    from tillit.worker.retention import run_all

    request = requested(client, "access")
    mail.outbox.clear()
    run_all(request.due_at + timedelta(hours=1))
    drain_tasks()
    [english] = [m for m in mail.outbox if m.to == ["personvern@example.com"]]
    assert english.subject.startswith("Needs you: rights request") and "overdue" in english.body
    privacy_officer.email = "Personvern@example.com"
    privacy_officer.save(update_fields=["email"])
    StaffProfile.objects.create(user=privacy_officer, language="nb")
    RightsRequest.objects.filter(id=request.id).update(overdue_alarm_at=None)
    mail.outbox.clear()
    run_all(request.due_at + timedelta(hours=2))
    drain_tasks()
    [norwegian] = [m for m in mail.outbox if m.to == ["personvern@example.com"]]
    assert norwegian.subject.startswith("Trenger deg: forespørsel om rettigheter")
    assert "Fristen er oversittet." in norwegian.body and "Se den i konsollen" in norwegian.body


@pytest.mark.promise("P21")
def test_the_console_queue_shows_countdowns_and_no_personal_data(client, kari, privacy_officer):
    from django.test import Client

    challenge = ask(client, "access", "kari@example.com")
    prove(client, challenge, code_for("kari@example.com"))
    send(client, challenge)
    staff = Client(HTTP_HOST="127.0.0.1")
    sign_in(staff, privacy_officer)
    page = staff.get("/console/rights/rightsrequest/").content.decode()
    request = RightsRequest.objects.get()
    assert request.reference in page and "kari@example.com" not in page
    assert re.search(r'<td class="field-days_left">(2[89]|3[01])</td>', page)


@pytest.mark.promise("P25")
def test_an_export_waits_and_retries_when_a_partners_results_cannot_be_fetched(client, kari):
    from django_tasks_db.models import DBTaskResult

    from tillit.rights import tasks
    from tillit.rights.models import PartnerTask, TaskState

    request = requested(client, "access")
    # The partner said it was done, but its results cannot be fetched (nothing listens).
    PartnerTask.objects.update(
        state=TaskState.COMPLETED,
        results_url=f"{kari.partner.endpoint}/opendsr/v2/results/{request.id}",
    )
    mail.outbox.clear()
    tasks.send_completed.call(str(request.id))
    assert mail.outbox == []
    request.refresh_from_db()
    assert request.export_id is None and request.contact_id is not None
    retry = DBTaskResult.objects.filter(task_path__endswith="send_completed").get()
    assert retry.run_after > datetime.now(UTC) + timedelta(minutes=4)


@pytest.mark.promise("P29")
def test_a_partner_unreachable_for_14_days_is_escalated_to_the_privacy_officer(client, kari):
    import httpx

    from tillit.rights import fanout
    from tillit.rights.models import PartnerTask, TaskState

    challenge = ask(client, "erasure", "kari@example.com")
    prove(client, challenge, code_for("kari@example.com"))
    send(client, challenge)
    mail.outbox.clear()
    with httpx.Client() as http:
        assert fanout.step(http) == 1  # nothing listens: a failure, retried later
        assert PartnerTask.objects.get().state == TaskState.WAITING
        with time_machine.travel(datetime.now(UTC) + timedelta(days=14, minutes=1)):
            assert fanout.step(http) == 1
    assert PartnerTask.objects.get().state == TaskState.FAILED
    drain_tasks()
    [alarm] = [m for m in mail.outbox if m.to == ["personvern@example.com"]]
    assert "partner unreachable" in alarm.subject and "Broker A" in alarm.body


@pytest.mark.promise("P25")
def test_a_download_link_past_seven_days_gives_nothing(client, kari):
    from django.core import signing

    from tillit.rights import export

    token = signing.dumps(str(kari.id), salt=export.SALT, compress=False)
    assert export.open_once(token) is None  # not a request's link at all
    request = RightsRequest.objects.create(
        kind="access", subject=kari, due_at=datetime.now(UTC) + timedelta(days=30)
    )
    request.export = Envelope.objects.seal(
        {"zip": "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="}, Purpose.EXPORT
    )
    request.save()
    token = export.download_path(request, "person").split("/")[-2]
    with time_machine.travel(datetime.now(UTC) + timedelta(days=7, minutes=1)):
        page = client.get(f"/privacy/download/{token}/")
        gone = client.post(f"/privacy/download/{token}/")
    assert page.status_code == 200 and gone.status_code == 410
    assert export.open_once(token) is not None  # within the week the same link works, once
    assert export.open_once(token) is None


@pytest.mark.promise("P29")
@pytest.mark.promise("P17")
def test_an_erasure_while_the_lead_is_on_its_way_is_passed_on_to_that_partner(client, kari):
    """The worker has sent the lead and not yet recorded the answer (the delivery is leased):
    the partner may hold the data, so the erasure goes to it too, though tillit's own part
    cancels the delivery."""
    from tillit.partners.models import Delivery, DeliveryState
    from tillit.rights.models import PartnerTask

    Delivery.objects.update(state=DeliveryState.LEASED, lease_token="in-flight")
    request = requested(client, "erasure")
    assert Delivery.objects.get().state == DeliveryState.CANCELLED
    assert [t.partner_id for t in PartnerTask.objects.filter(request=request)] == [
        Delivery.objects.get().partner_id
    ]
