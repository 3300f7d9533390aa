import json

import pytest

from tillit.consent.models import ConsentRecord
from tillit.subjects.confirmation import confirmation_token
from tillit.subjects.models import Subject

pytestmark = pytest.mark.django_db


@pytest.fixture
def receipt_id(client, partner, visitor):
    client.post("/", visitor)
    client.post(f"/confirm/{confirmation_token(Subject.objects.get())}/")
    return ConsentRecord.objects.values_list("receipt_id", flat=True).first()


@pytest.mark.promise("P3")
@pytest.mark.promise("P2")
def test_the_json_receipt_has_the_iso_27560_sections(client, receipt_id, partner):
    response = client.get(f"/receipt/{receipt_id}.json")
    receipt = response.json()
    assert set(receipt) == {"header", "processing", "parties", "events", "log"}
    assert receipt["header"]["receipt_id"] == str(receipt_id)
    assert receipt["header"]["schema_version"].startswith("ISO/IEC TS 27560")
    processing = receipt["processing"]
    for key in (
        "privacy_notice",
        "language",
        "jurisdiction",
        "pii_controllers",
        "storage_locations",
        "withdrawal_method",
        "purposes",
    ):
        assert processing[key]
    referral = next(p for p in processing["purposes"] if p["purpose_id"] == "referral")
    assert referral["consent_state"] == "dpv:ConsentGiven"
    assert referral["recipient_third_parties"] == [partner.name]
    assert {p["role"] for p in receipt["parties"]} == {"controller", "processor"}
    assert any("confirmed" in e["event_type"] for e in receipt["events"])


@pytest.mark.promise("P9")
def test_the_receipt_holds_no_personal_data(client, receipt_id):
    body = client.get(f"/receipt/{receipt_id}.json").content.decode()
    html = client.get(f"/receipt/{receipt_id}/").content.decode()
    for text in (body, html):
        # The whole number in both forms: "912" alone turns up in random ids now and then.
        assert "Kari" not in text and "kari@example.com" not in text
        assert "91234567" not in text and "912 34 567" not in text
    assert json.loads(body)["header"]["pii_principal_id"].startswith("subject:")


def test_an_unknown_receipt_is_not_found(client, db):
    assert client.get("/receipt/00000000-0000-4000-8000-000000000000/").status_code == 404
