"""Rights requests reach the partner that holds the data: a person proves their address in the
privacy centre (over HTTP, the code from a real SMTP server), the worker passes the request on
to the reference partner (a separate process) in OpenDSR shape, the partner acts and calls
back, and the person is told it is done and who was told."""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest

from tests.e2e.conftest import CONFIRM_LINK, csrf_token, partner_leads, until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

KARI = {
    "name": "Kari Sletting",
    "email": "sletting@example.com",
    "country": "NO",
    "phone": "",
    "consent_partner": "on",
    "consent_offers": "on",
}


@pytest.fixture
def delivered(make_operator, reference, smtp, visitors):
    """Kari has signed up and confirmed; the partner holds her lead."""
    site = make_operator(smtp_port=smtp.port)
    site.add_reference_partner(reference)
    site.start_web()
    site.start_worker()
    person = visitors(site.url)
    person.sign_up(KARI)
    person.confirm(smtp.wait_for(KARI["email"]).link(CONFIRM_LINK))
    until(lambda: len(partner_leads(reference)) == 1, 30, "the partner holds the lead")
    return site, person


def completion_mail(smtp, reference_code: str, address: str = KARI["email"]):
    """The e-mail that says the request is done (the last one, if several)."""
    return until(
        lambda: [m for m in smtp.to(address) if f"{reference_code} er behandlet" in m.subject],
        30,
        "the person is told the request is done",
    )[-1]


def ask(person, smtp, kind: str, address: str = KARI["email"]) -> str:
    """Go through the privacy centre; return the request's reference."""
    http = person.http

    def codes() -> list:
        return [m for m in smtp.to(address) if "Koden din" in m.subject]

    before = len(codes())
    form = http.get("/privacy/")
    started = http.post(
        "/privacy/",
        data={"kind": kind, "email": address, "csrfmiddlewaretoken": csrf_token(form.text)},
    )
    assert started.status_code == 302, started.text
    verify = started.headers["location"]
    mail = until(lambda: codes()[before:], 30, "a new code arrives")[-1]
    code = re.search(r"\b(\d{6})\b", mail.text).group(1)
    page = http.get(verify)
    proven = http.post(verify, data={"code": code, "csrfmiddlewaretoken": csrf_token(page.text)})
    assert proven.status_code == 302, proven.text
    confirm = proven.headers["location"]
    page = http.get(confirm)
    done = http.post(confirm, data={"csrfmiddlewaretoken": csrf_token(page.text)})
    assert done.status_code == 302, done.text
    return re.search(r"R-[0-9A-F]{4}-[0-9A-F]{4}", http.get(done.headers["location"]).text).group(0)


@pytest.mark.promise("P29")
@pytest.mark.promise("P24")
def test_erasure_reaches_the_partner_and_the_person_is_told_who(delivered, reference, smtp):
    site, person = delivered
    reference_code = ask(person, smtp, "erasure")
    until(lambda: partner_leads(reference) == [], 30, "the partner deletes the lead")
    done = completion_mail(smtp, reference_code)
    assert "Megler Eksempel AS" in done.text
    assert site.db.rows("SELECT state, outcome FROM rights_rightsrequest") == [
        ("completed", "done")
    ]
    assert site.db.rows("SELECT state FROM rights_partnertask") == [("completed",)]
    # Nothing readable is left for the request: its answer address went with the last e-mail.
    until(
        lambda: (
            site.db.scalar("SELECT count(*) FROM vault_envelope WHERE purpose = 'request'") == 0
        ),
        10,
        "the answer address is shredded after the last e-mail",
    )


@pytest.mark.promise("P31")
@pytest.mark.promise("P27")
@pytest.mark.promise("P32")
def test_withdrawal_restriction_and_objection_are_applied_by_the_partner(
    delivered, reference, smtp
):
    site, person = delivered
    ask(person, smtp, "withdraw")
    until(
        lambda: {c["action"] for c in partner_leads(reference)[0]["consents"]} == {"withdrawn"},
        30,
        "the partner records the withdrawal",
    )
    ask(person, smtp, "restriction")
    until(lambda: partner_leads(reference)[0]["restricted"], 30, "the partner restricts use")
    ask(person, smtp, "objection")
    until(lambda: partner_leads(reference)[0]["objected"], 30, "the partner records the objection")
    states = site.db.rows("SELECT kind, state FROM rights_rightsrequest ORDER BY received_at")
    until(
        lambda: site.db.rows("SELECT state FROM rights_rightsrequest") == [("completed",)] * 3,
        30,
        "all three requests are completed",
    )
    assert [k for k, _ in states] == ["withdraw", "restriction", "objection"]


@pytest.mark.promise("P25")
@pytest.mark.promise("P28")
def test_access_gives_a_one_time_download_with_the_partners_data(delivered, reference, smtp):
    site, person = delivered
    reference_code = ask(person, smtp, "access")
    done = completion_mail(smtp, reference_code)
    link = re.search(r"http://127\.0\.0\.1:\d+/privacy/download/[^\s/]+/", done.text).group(0)
    # The export waits sealed in the vault: nothing in it is readable at rest.
    assert site.db.scalar("SELECT count(*) FROM vault_envelope WHERE purpose = 'export'") == 1
    http = person.http
    page = http.get(link)
    assert page.status_code == 200 and "<button" in page.text  # a link scanner takes nothing
    answer = http.post(link, data={"csrfmiddlewaretoken": csrf_token(page.text)})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        assert set(archive.namelist()) == {"data.json", "data.csv", "index.html"}
        data = json.loads(archive.read("data.json"))
        page_text = archive.read("index.html").decode()
        rows = archive.read("data.csv").decode()
    [held] = data["held_by_partners"]
    assert (held["holder"], held["name"], held["email"]) == (
        "Megler Eksempel AS",
        KARI["name"],
        KARI["email"],
    )
    assert data["held_by_us"]["account"]["country"] == "NO"
    assert {c["purpose"] for c in data["held_by_us"]["consents"]} == {"referral", "offers"}
    assert data["facts"]["authority"]["name"] == "Datatilsynet"
    assert data["facts"]["recipients"] == ["Megler Eksempel AS"]
    assert KARI["name"] in page_text and "Datatilsynet" in page_text
    assert f"Megler Eksempel AS,name,{KARI['name']}" in rows
    # Once only: the file is shredded as it is handed out.
    again = http.post(link, data={"csrfmiddlewaretoken": csrf_token(page.text)})
    assert again.status_code == 410
    assert site.db.scalar("SELECT count(*) FROM vault_envelope WHERE purpose = 'export'") == 0


@pytest.mark.promise("P26")
def test_a_correction_reaches_the_partner_and_is_not_kept(delivered, reference, smtp):
    site, person = delivered
    http = person.http

    def codes() -> list:
        return [m for m in smtp.to(KARI["email"]) if "Koden din" in m.subject]

    form = http.get("/privacy/")
    started = http.post(
        "/privacy/",
        data={
            "kind": "rectification",
            "email": KARI["email"],
            "csrfmiddlewaretoken": csrf_token(form.text),
        },
    )
    code = re.search(r"\b(\d{6})\b", until(codes, 30, "the code")[-1].text).group(1)
    verify = started.headers["location"]
    page = http.get(verify)
    confirm = http.post(
        verify, data={"code": code, "csrfmiddlewaretoken": csrf_token(page.text)}
    ).headers["location"]
    page = http.get(confirm)
    token = csrf_token(page.text)
    # A bad phone number is named, and nothing is sent or kept.
    bad = http.post(confirm, data={"phone": "12", "csrfmiddlewaretoken": token})
    assert bad.status_code == 400 and "gyldig telefonnummer" in bad.text
    assert site.db.scalar("SELECT count(*) FROM rights_rightsrequest") == 0
    done = http.post(
        confirm,
        data={"name": "Kari Rettet", "phone": "+47 912 34 568", "csrfmiddlewaretoken": token},
    )
    assert done.status_code == 302
    until(lambda: partner_leads(reference)[0]["name"] == "Kari Rettet", 30, "the partner corrects")
    assert partner_leads(reference)[0]["phone"] == "+4791234568"
    until(
        lambda: site.db.rows("SELECT state FROM rights_rightsrequest") == [("completed",)],
        30,
        "the request is completed",
    )
    # The corrected values were only passing through.
    until(
        lambda: (
            site.db.scalar("SELECT count(*) FROM vault_envelope WHERE purpose = 'request'") == 0
        ),
        10,
        "the corrected values and the answer address are shredded",
    )
