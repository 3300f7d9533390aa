"""The contact page and form (P4, P35) and the support queue that answers it (P10): messages
are sealed, readable only by support, every opening audited, answered by e-mail from the
console, and deleted 30 days after the case is closed."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection

from tests.conftest import sign_in
from tillit.audit.models import AuditEvent
from tillit.contact.models import ContactMessage
from tillit.vault.models import Envelope, Purpose
from tillit.worker import retention
from tillit.worker.loop import Loop

pytestmark = pytest.mark.django_db(transaction=True)

CANARY = "canary-question-about-loan-7731"
MESSAGE = {
    "name": "Ola Spørsmål",
    "email": "ola.sporsmal@example.com",
    "phone": "",
    "message": f"Hvorfor ble jeg henvist? {CANARY}",
}


def drain() -> None:
    Loop().run_tasks(max_tasks=50)


def send_message(client, data=None, lang: str = ""):
    answer = client.post(f"{lang}/contact/", data or MESSAGE)
    assert answer.status_code == 302, answer.content.decode()[:500]
    return ContactMessage.objects.get(id=answer["Location"].rstrip("/").split("/")[-1])


def every_column_value() -> str:
    """Everything in every table, as text (ciphertext included, as stored)."""
    dump = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - our own table names
            dump.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(dump)


@pytest.mark.promise("P35")
def test_the_contact_page_says_how_to_reach_the_operator(client):
    page = client.get("/en/contact/").content.decode()
    for fact in ("Eksempel Henvisning AS", "Eksempelgata 1", "personvern@example.com"):
        assert fact in page
    assert 'href="/en/privacy/"' in page
    assert "/contact/" in client.get("/").content.decode()  # linked from every page's footer


@pytest.mark.promise("P4")
@pytest.mark.promise("P16")
def test_a_message_is_sealed_and_the_sender_gets_a_reference(client):
    message = send_message(client)
    page = client.get(f"/contact/{message.id}/").content.decode()
    assert message.reference in page
    assert (message.by_email, message.by_phone, message.state) == (True, False, "open")
    stored = every_column_value()
    for canary in (CANARY, MESSAGE["email"], "Spørsmål"):
        assert canary not in stored
    drain()
    [receipt] = mail.outbox
    assert receipt.to == [MESSAGE["email"]] and message.reference in receipt.subject
    assert CANARY not in receipt.body  # the message itself is not sent around again


@pytest.mark.promise("P4")
def test_bad_input_is_named_and_nothing_is_kept(client):
    nothing = client.post("/contact/", {**MESSAGE, "email": "", "phone": ""})
    assert nothing.status_code == 400
    assert "e-postadresse eller et telefonnummer" in nothing.content.decode()
    bad = client.post("/en/contact/", {**MESSAGE, "email": "not-an-address", "message": " "})
    text = bad.content.decode()
    assert bad.status_code == 400
    assert "does not look like an e-mail address" in text and "write your message" in text
    long = client.post("/en/contact/", {**MESSAGE, "message": "x" * 4001})
    assert long.status_code == 400 and "4,000" in long.content.decode()
    bot = client.post("/contact/", {**MESSAGE, "website": "http://spam.invalid"})
    assert bot.status_code == 200
    assert not ContactMessage.objects.exists() and not Envelope.objects.exists()


@pytest.mark.promise("P4")
def test_messages_from_one_address_are_limited(client, settings):
    settings.CONTACT_MESSAGES_PER_IP_PER_HOUR = 2
    send_message(client)
    send_message(client, {**MESSAGE, "email": "", "phone": "+47 912 34 567"})
    flood = client.post("/contact/", MESSAGE)
    assert flood.status_code == 429
    assert ContactMessage.objects.count() == 2


@pytest.mark.promise("P10")
@pytest.mark.promise("P21")
def test_only_support_reads_a_message_and_every_look_is_recorded(client, support, privacy_officer):
    message = send_message(client)
    url = f"/console/contact/contactmessage/{message.id}/change/"
    sign_in(client, privacy_officer)
    assert client.get(url).status_code == 403
    assert client.get("/console/contact/contactmessage/").status_code == 403
    client.logout()
    sign_in(client, support)
    queue = client.get("/console/contact/contactmessage/").content.decode()
    assert message.reference in queue and CANARY not in queue and MESSAGE["email"] not in queue
    opened = client.get(url).content.decode()
    assert CANARY in opened and MESSAGE["email"] in opened
    looks = AuditEvent.objects.filter(action="contact.opened", target=f"contact:{message.id}")
    assert [e.actor for e in looks] == [f"staff:{support.pk}"]


@pytest.mark.promise("P10")
def test_support_answers_by_e_mail_and_a_stale_page_cannot_overwrite(client, support):
    from django.test import Client

    message = send_message(client)
    drain()  # the receipt
    url = f"/console/contact/contactmessage/{message.id}/change/"
    sign_in(client, support)
    colleague = Client()
    sign_in(colleague, support)
    client.get(url)
    colleague.get(url)  # both have version 0 in front of them
    client.post(url, {"reply": "Du ble henvist fordi du samtykket.", "version": "0"})
    late = colleague.post(
        url, {"reply": "Et annet svar.", "version": "0"}, follow=True
    ).content.decode()
    assert "changed by someone else" in late
    message.refresh_from_db()
    assert (message.state, message.replies, message.version) == ("answered", 1, 1)
    mail.outbox.clear()
    drain()
    [answer] = mail.outbox
    assert answer.to == [MESSAGE["email"]] and message.reference in answer.subject
    assert "Du ble henvist fordi du samtykket." in answer.body and CANARY in answer.body
    assert "Et annet svar" not in answer.body


@pytest.mark.promise("P10")
@pytest.mark.promise("P16")
def test_a_closed_case_is_deleted_after_thirty_days(client, support):
    message = send_message(client)
    url = f"/console/contact/contactmessage/{message.id}/change/"
    sign_in(client, support)
    client.post(url, {"close": "1", "version": "0"})
    message.refresh_from_db()
    assert message.state == "closed"
    assert retention.run_all()["forget_closed_contacts"] == 0  # not yet
    with time_machine.travel(datetime.now(UTC) + timedelta(days=31)):
        assert retention.run_all()["forget_closed_contacts"] == 1
    assert not Envelope.objects.filter(purpose=Purpose.CONTACT).exists()
    message.refresh_from_db()
    assert message.envelope_id is None
    sign_in(client, support)
    page = client.get(url).content.decode()
    assert "have been deleted" in page and CANARY not in page
    assert re.search(r"K-[0-9A-F]{4}-[0-9A-F]{4}", page)
