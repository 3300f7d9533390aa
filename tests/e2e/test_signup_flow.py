"""The sign-up flow end to end, as a person and the partner see it: real `tillit web` and
`tillit worker` processes, the reference partner as its own service, e-mail through SMTP."""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest

from tests.e2e.conftest import CONFIRM_LINK, csrf_token, partner_leads, until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

PARTNER_NAME = "Megler Eksempel AS"


@pytest.mark.promise("P17")
@pytest.mark.promise("P24")
@pytest.mark.promise("P19")
@pytest.mark.promise("P3")
def test_a_person_signs_up_confirms_and_only_then_reaches_the_partner(
    make_operator, reference, smtp, visitors, visitor
):
    site = make_operator(smtp_port=smtp.port)
    privacy_url = reference.url + "/privacy"
    site.add_partner(
        "megler",
        name=PARTNER_NAME,
        endpoint=reference.url,
        privacy_url=privacy_url,
        countries="NO",
        secret=reference.secret,
    )
    site.start_worker()
    site.start_web()
    person = visitors(site.url)

    # The form, posted over HTTP with its CSRF token, answers with a redirect to /sent/.
    sent = person.sign_up(visitor)
    assert sent.url.path == "/sent/"
    assert "Sjekk e-posten din" in sent.text

    # The worker sends the confirmation e-mail; its link leads back to this site.
    mail = smtp.wait_for(visitor["email"])
    assert mail.rcpt_tos == [visitor["email"]]
    link = mail.link(CONFIRM_LINK)
    assert link.startswith(site.url + "/confirm/")

    # The link shows a page with a button: fetching it, as a mail system's link scanner would,
    # confirms nothing. The worker is running (it sent the e-mail) and polls every 0.5 s, yet
    # the lead stays held back and the partner has received nothing (P24).
    page = person.http.get(link)
    assert page.status_code == 200 and "<button" in page.text
    time.sleep(1.5)
    assert site.db.states() == {"waiting": 1}
    assert partner_leads(reference) == []

    # Pressing the button confirms.
    welcome = person.http.post(link, data={"csrfmiddlewaretoken": csrf_token(page.text)})
    assert welcome.status_code == 200, welcome.text
    # The page names the partner and links its privacy policy (P19), which really is there.
    assert PARTNER_NAME in welcome.text
    assert f'href="{privacy_url}"' in welcome.text
    assert httpx.get(privacy_url, timeout=10).status_code == 200
    # ... and offers the consent receipt, as a page and as JSON (P3).
    found = re.search(r'href="/receipt/([0-9a-f-]{36})\.json"', welcome.text)
    assert found, welcome.text
    receipt_id = found.group(1)
    assert f'href="/receipt/{receipt_id}/"' in welcome.text

    # Now the lead reaches the partner, with what the person typed (phone in E.164) (P17).
    leads = until(lambda: partner_leads(reference), 30, "the partner receives the lead")
    assert len(leads) == 1
    lead = leads[0]
    assert (lead["name"], lead["email"], lead["phone"], lead["country"], lead["language"]) == (
        visitor["name"],
        visitor["email"],
        "+4791234567",
        "NO",
        "nb",
    )
    consents = {c["purpose"]: c["action"] for c in lead["consents"]}
    assert consents == {"referral": "given", "offers": "given"}
    assert {c["receipt_id"] for c in lead["consents"]} == {receipt_id}

    # tillit recorded the delivery and shredded the lead it held.
    until(lambda: site.db.states() == {"delivered": 1}, 10, "the delivery is recorded")
    assert site.db.scalar("SELECT COUNT(*) FROM vault_envelope WHERE purpose = 'lead'") == 0
    delivery_id, reference_, receipt_hash = site.db.rows(
        "SELECT id, partner_reference, receipt_hash FROM partners_delivery"
    )[0]
    assert reference_ == lead["partner_lead_id"]
    # The disclosure is recorded (P24): which lead, to which partner, with the receipt's hash.
    events = site.db.rows("SELECT data FROM audit_auditevent WHERE action = 'lead.delivered'")
    assert len(events) == 1
    event = events[0][0] if isinstance(events[0][0], dict) else json.loads(events[0][0])
    assert event["partner"] == "megler" and event["receipt_hash"] == receipt_hash
    assert event["delivery"].replace("-", "") == str(delivery_id).replace("-", "")
    assert event["delivery"] == lead["lead_id"]

    # The receipt (ISO/IEC TS 27560 sections) names the person by pseudonym only.
    answer = person.http.get(f"/receipt/{receipt_id}.json")
    assert answer.status_code == 200
    receipt = answer.json()
    assert {"header", "processing", "parties", "events"} <= receipt.keys()
    assert receipt["header"]["receipt_id"] == receipt_id
    assert receipt["header"]["pii_principal_id"] == f"subject:{lead['subject_ref']}"
    assert PARTNER_NAME in [p["name"] for p in receipt["parties"]]
    given = {e.get("purpose") for e in receipt["events"] if e["event_state"] == "dpv:ConsentGiven"}
    assert {"referral", "offers"} <= given
    raw = answer.text.lower()
    for personal in ("kari", "nordmann", visitor["email"], "91234567", "912 34 567"):
        assert personal not in raw, f"the receipt holds {personal!r}"
    assert person.http.get(f"/receipt/{receipt_id}/").status_code == 200
