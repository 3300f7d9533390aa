"""Offer notifications end to end (P11): a privacy officer writes an offer in the console and
sends it; the worker passes it to the reference partner (a separate process), which holds the
contact data and delivers it to its own mailbox, for the people whose consent is active and
nobody else. The opt-out link in the message withdraws the consent in tillit, the partner is
told, and the next offer does not reach that person."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from tests.e2e.conftest import CONFIRM_LINK, StaffMember, csrf_token, partner_leads, until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def person(name: str, email: str, offers: bool) -> dict[str, str]:
    fields = {"name": name, "email": email, "country": "NO", "phone": "", "consent_partner": "on"}
    return {**fields, "consent_offers": "on"} if offers else fields


PEOPLE = [
    person("Anne Tilbud", "anne.tilbud@example.com", offers=True),
    person("Bjørn Ingen", "bjorn.ingen@example.com", offers=False),
    person("Cecilie Stoppet", "cecilie.stoppet@example.com", offers=True),
]


def mailbox(partner) -> list[dict]:
    return httpx.get(partner.url + "/messages.json", timeout=10).json()["messages"]


def write_and_send(site, officer_http: httpx.Client, title: str) -> None:
    form = officer_http.get("/console/offers/offer/add/")
    assert form.status_code == 200, form.status_code
    until_day = (dt.date.today() + dt.timedelta(days=14)).isoformat()
    saved = officer_http.post(
        "/console/offers/offer/add/",
        data={
            "title_nb": f"{title} (nb)",
            "body_nb": "Halv pris på rådgivning ut måneden.",
            "title_en": title,
            "body_en": "Half-price advice until the end of the month.",
            "valid_until": until_day,
            "csrfmiddlewaretoken": csrf_token(form.text),
        },
    )
    assert saved.status_code == 302, saved.text[:2000]
    offer_id = str(site.db.scalar("SELECT max(id) FROM offers_offer"))
    listing = officer_http.get("/console/offers/offer/")
    sent = officer_http.post(
        "/console/offers/offer/",
        data={
            "action": "send_offer",
            "_selected_action": [offer_id],
            "csrfmiddlewaretoken": csrf_token(listing.text),
        },
    )
    assert sent.status_code == 302, sent.text[:2000]


@pytest.mark.promise("P11")
@pytest.mark.promise("P31")
def test_an_offer_reaches_only_consenting_people_and_the_opt_out_stops_the_next(
    make_operator, reference, smtp, visitors
):
    site = make_operator(smtp_port=smtp.port)
    site.add_reference_partner(reference)
    site.start_web()
    site.start_worker()
    for who in PEOPLE:
        visitor = visitors(site.url)
        visitor.sign_up(who)
        visitor.confirm(smtp.wait_for(who["email"]).link(CONFIRM_LINK))
    until(lambda: len(partner_leads(reference)) == 3, 30, "the partner holds all three")
    # Cecilie changes her mind in the privacy centre before any offer is written.
    cecilie = visitors(site.url).http
    form = cecilie.get("/privacy/")
    started = cecilie.post(
        "/privacy/",
        data={
            "kind": "stop_offers",
            "email": PEOPLE[2]["email"],
            "csrfmiddlewaretoken": csrf_token(form.text),
        },
    )
    code = until(
        lambda: [m for m in smtp.to(PEOPLE[2]["email"]) if "Koden din" in m.subject], 30, "code"
    )[-1]
    import re

    verify = started.headers["location"]
    page = cecilie.get(verify)
    confirm = cecilie.post(
        verify,
        data={
            "code": re.search(r"\b(\d{6})\b", code.text).group(1),
            "csrfmiddlewaretoken": csrf_token(page.text),
        },
    ).headers["location"]
    page = cecilie.get(confirm)
    cecilie.post(confirm, data={"csrfmiddlewaretoken": csrf_token(page.text)})

    officer = StaffMember(site, "personvern", "privacy_officer").http(site.url)
    write_and_send(site, officer, "Spring offer")
    first = until(lambda: mailbox(reference), 30, "the partner's mailbox receives the offer")
    until(
        lambda: (
            site.db.scalar("SELECT count(*) FROM offers_offermessage WHERE state = 'pending'") == 0
        ),
        30,
        "every message is settled",
    )
    assert [m["to"] for m in mailbox(reference)] == [PEOPLE[0]["email"]]
    [message] = first
    assert message["title"] == "Spring offer (nb)" and message["valid_until"]
    assert site.db.scalar("SELECT recipients FROM offers_offer") == 1

    # Anne opts out with the link in the message (a page with one button).
    with httpx.Client(timeout=20) as anne:
        page = anne.get(message["opt_out_url"])
        assert page.status_code == 200 and "<button" in page.text
        done = anne.post(
            message["opt_out_url"], data={"csrfmiddlewaretoken": csrf_token(page.text)}
        )
        assert done.status_code == 200 and "tilbake" in done.text
    offers = site.db.rows(
        "SELECT c.action, c.method FROM consent_consentrecord c JOIN subjects_subject s "
        "ON s.id = c.subject_id WHERE c.purpose = 'offers' ORDER BY c.at"
    )
    assert ("withdrawn", "offer-opt-out-link") in offers
    anne_lead = next(lead for lead in partner_leads(reference) if lead["name"] == "Anne Tilbud")
    until(
        lambda: (
            [
                c["action"]
                for c in next(
                    lead for lead in partner_leads(reference) if lead["name"] == "Anne Tilbud"
                )["consents"]
                if c["purpose"] == "offers"
            ]
            == ["withdrawn"]
        ),
        30,
        "the partner is told Anne opted out",
    )
    assert anne_lead["subject_ref"]

    officer = StaffMember(site, "personvern2", "privacy_officer").http(site.url)
    write_and_send(site, officer, "Summer offer")
    until(
        lambda: site.db.scalar("SELECT count(*) FROM offers_offer WHERE sent_at IS NOT NULL") == 2,
        30,
        "the second offer is sent",
    )
    assert (
        site.db.scalar("SELECT recipients FROM offers_offer WHERE title_en = 'Summer offer'") == 0
    )
    assert len(mailbox(reference)) == 1  # nobody got the second one
