"""The privacy policy is generated from the data map and the partners, and versioned (P34,
P35, P19, P8): publishing makes a new immutable version in force at once, older versions stay
readable at their own addresses, a page shows what changed, the same is JSON at a stable
address, and consent records name the version they were given under."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.conftest import make_partner, sign_in
from tillit.consent.models import ConsentRecord
from tillit.partners.models import Partner
from tillit.policy import versions
from tillit.policy.models import PolicyVersion

pytestmark = pytest.mark.django_db

OLD_RETENTION = "30 days after the case is closed."
NEW_RETENTION = "60 days after the case is closed."


@pytest.fixture
def longer_retention(tmp_path, settings):
    """The operator's data map with the contact messages kept longer."""

    def change() -> None:
        text = Path(settings.OPERATOR_FILE).read_text()
        assert OLD_RETENTION in text
        changed = tmp_path / "operator.toml"
        changed.write_text(
            text.replace(OLD_RETENTION, NEW_RETENTION).replace(
                "30 dager etter at saken er avsluttet.", "60 dager etter at saken er avsluttet."
            )
        )
        settings.OPERATOR_FILE = changed

    return change


@pytest.mark.promise("P34")
def test_publishing_changes_the_page_at_once_and_keeps_the_old_one(
    client, partner, longer_retention
):
    call_command("policy", "publish", "--summary-nb", "Første.", "--summary-en", "First.")
    first = client.get("/en/personvern/").content.decode()
    assert "Version 1, in force from" in first and OLD_RETENTION in first
    assert "Broker A" in first and "Broker B" not in first

    make_partner(slug="broker-b", name="Broker B", countries=["SE"])
    longer_retention()
    versions.publish("Ny partner, lengre lagring.", "A new partner, longer retention.", "test")
    now = client.get("/en/personvern/").content.decode()
    assert "Version 2, in force from" in now and NEW_RETENTION in now and "Broker B" in now
    # Every right, with the way into the privacy centre for it.
    for kind in ("access", "rectification", "restriction", "portability", "erasure", "objection"):
        assert f'href="/en/privacy/?kind={kind}"' in now
    old = client.get("/en/personvern/v/1/").content.decode()
    assert OLD_RETENTION in old and "Broker B" not in old and "This is an older version" in old
    assert client.get("/en/personvern/v/9/").status_code == 404


@pytest.mark.promise("P34")
def test_the_difference_page_names_an_added_partner_and_a_changed_retention(
    client, partner, longer_retention
):
    versions.publish("Første.", "First.", "test")
    make_partner(slug="broker-b", name="Broker B", countries=["SE"])
    longer_retention()
    versions.publish("Endringer.", "Changes.", "test")
    page = client.get("/en/personvern/endringer/?from=1&to=2").content.decode()
    assert "<td>recipients</td><td>Broker B</td><td>added</td>" in page
    assert f"retention: <del>{OLD_RETENTION}</del> → <ins>{NEW_RETENTION}</ins>" in page
    assert "Changes." in page
    assert client.get("/en/personvern/endringer/?from=x").status_code == 400


@pytest.mark.promise("P34")
@pytest.mark.promise("P35")
def test_the_policy_is_json_at_a_stable_address_linked_from_the_page(client, partner):
    versions.publish("Første.", "First.", "test")
    page = client.get("/personvern/").content.decode()
    assert 'href="/personvern/v/1.json"' in page
    body = json.loads(client.get("/personvern.json").content)
    assert body["version"] == 1 and len(body["text_hash"]) == 64
    assert body["policy"]["contacts"]["privacy"] == "personvern@example.com"
    assert [r["name"] for r in body["policy"]["recipients"]] == ["Broker A"]
    assert {p["id"] for p in body["policy"]["purposes"]} >= {"referral", "offers", "contact"}
    assert all(p["lawful_basis"] and p["retention"]["nb"] for p in body["policy"]["purposes"])
    assert body["policy"]["cookies"][0]["name"]


@pytest.mark.promise("P34")
def test_a_version_is_immutable_and_publishing_nothing_new_is_refused(partner):
    first = versions.publish("Første.", "First.", "test")
    with pytest.raises(versions.NothingChanged):
        versions.publish("Igjen.", "Again.", "test")
    with pytest.raises(versions.NothingChanged):
        versions.publish("", "No Norwegian summary.", "test")
    first.summary_en = "Rewritten history"
    with pytest.raises(Exception, match="never changed"):
        first.save()
    assert PolicyVersion.objects.get().summary_en == "First."


@pytest.mark.promise("P34")
@pytest.mark.promise("P17")
def test_consent_records_name_the_version_in_force(client, partner, visitor):
    versions.publish("Første.", "First.", "test")
    make_partner(slug="broker-b", name="Broker B", countries=["SE"])
    versions.publish("Ny partner.", "A new partner.", "test")
    assert "versjon 2" in client.get("/").content.decode()
    client.post("/", visitor)
    assert set(ConsentRecord.objects.values_list("policy_version", flat=True)) == {"2"}


@pytest.mark.promise("P34")
@pytest.mark.promise("P21")
def test_a_privacy_officer_publishes_from_the_console(client, partner, privacy_officer):
    sign_in(client, privacy_officer)
    url = "/console/policy/policyversion/add/"
    data = {"summary_nb": "Første.", "summary_en": "First.", "material": "on"}
    assert client.post(url, data).status_code == 302
    again = client.post(url, data)
    assert (
        again.status_code == 200 and "Nothing in the policy has changed" in again.content.decode()
    )
    assert PolicyVersion.objects.get().published_by == f"staff:{privacy_officer.pk}"


def choose_cookies(client) -> None:
    page = client.get("/")
    config = json.loads(
        page.content.decode().split('id="cc-config" type="application/json">')[1].split("<")[0]
    )
    answer = client.post(
        "/cookies/choice",
        json.dumps(
            {
                "action": "reject_all",
                "source": "banner",
                "granted": [],
                "version": config["version"],
            }
        ),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
    )
    assert answer.status_code in (200, 201), answer.content


@pytest.mark.promise("P34")
def test_a_returning_visitor_is_told_of_a_material_change_exactly_once(client, partner):
    versions.publish("Første.", "First.", "test")
    choose_cookies(client)  # consent given under version 1
    assert "has changed since you were last here" not in client.get("/en/").content.decode()
    make_partner(slug="broker-b", name="Broker B", countries=["SE"])
    versions.publish("Ny partner: Broker B.", "A new partner: Broker B.", "test")
    first = client.get("/en/").content.decode()
    assert "has changed since you were last here" in first
    assert "A new partner: Broker B." in first and "endringer/?from=1&amp;to=2" in first
    assert "has changed since you were last here" not in client.get("/en/").content.decode()
    # A minor change (wording) is not announced; a visitor's cookie choice still holds.
    make_partner(slug="broker-c", name="Broker C", countries=["DK"])
    versions.publish("Ordlyd.", "Wording.", "test", material=False)
    again = client.get("/en/").content.decode()
    assert "has changed since you were last here" not in again
    # The cookie list did not change, so the banner does not ask again: the choice holds.
    state = json.loads(again.split('id="cc-config" type="application/json">')[1].split("<")[0])
    assert state["state"] is not None and state["state"]["granted"] == []


@pytest.mark.promise("P34")
def test_a_first_visit_gets_no_notice(client, partner):
    versions.publish("Første.", "First.", "test")
    make_partner(slug="broker-b", name="Broker B", countries=["SE"])
    versions.publish("Ny partner.", "A new partner.", "test")
    assert "has changed since you were last here" not in client.get("/en/").content.decode()


def check(*args: str) -> tuple[int, str]:
    """`tillit check` without the browser scan (the e2e scan tests run it whole)."""
    from io import StringIO

    out = StringIO()
    try:
        call_command("check", "--no-scan", *args, stdout=out, stderr=StringIO())
    except SystemExit as exit_:
        return int(exit_.code or 0), out.getvalue()
    return 0, out.getvalue()


@pytest.mark.promise("P18")
@pytest.mark.promise("P8")
def test_tillit_check_proves_the_policy_and_names_what_is_not_so(partner, tmp_path):
    code, report = check()
    assert code == 0, report
    assert "the policy is proven true of this system" in report
    assert re.search(r"P34 .* test\(s\)", report) and "P7 " in report
    make_partner(slug="no-dpa", name="No DPA", dpa_signed_on=None)
    code, report = check()
    assert code == 1 and "active partner 'no-dpa' has no DPA" in report
    Partner.objects.filter(slug="no-dpa").update(active=False)
    # A promise with no test naming it.
    lonely = tmp_path / "tests"
    lonely.mkdir()
    (lonely / "test_one.py").write_text(
        '@pytest.mark.promise("P1")\ndef test_something():\n    assert True\n'
    )
    code, report = check("--tests", str(lonely))
    assert code == 1 and "promise P2" in report and "promise P1 " not in report


@pytest.mark.promise("P8")
def test_tillit_check_fails_on_a_purpose_without_a_lawful_basis(partner, tmp_path, settings):
    from django.core.management.base import SystemCheckError

    text = Path(settings.OPERATOR_FILE).read_text()
    bad = tmp_path / "operator.toml"
    bad.write_text(text.replace('lawful_basis = "legitimate_interest"', 'lawful_basis = ""', 1))
    settings.OPERATOR_FILE = bad
    with pytest.raises(SystemCheckError, match="lawful_basis"):
        check()
