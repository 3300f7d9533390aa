"""Cookie consent on the server: what a page tells the banner, how a choice is checked and
recorded, and that anything malformed, forged or stale changes nothing."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path
from unittest import mock

import pytest
from django.core import signing

from tests.conftest import sign_in
from tillit import datamap
from tillit.consent import cookies
from tillit.consent.models import AppendOnly, CookieConsent

pytestmark = pytest.mark.django_db

STATIC = Path(__file__).resolve().parents[1] / "src" / "tillit" / "consent" / "static" / "consent"


def config(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="cc-config" type="application/json">') + len(
        '<script id="cc-config" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def version() -> str:
    return cookies.version(datamap.load())


def choose(client, **body):
    body.setdefault("version", version())
    return client.post("/cookies/choice", json.dumps(body), content_type="application/json")


@pytest.mark.promise("P13")
@pytest.mark.promise("P14")
def test_a_first_visit_has_no_choice_and_sets_only_essential_cookies(client):
    response = client.get("/")
    state = config(response)
    assert state["state"] is None
    assert state["categories"] == ["analytics", "third_party"]
    essential = {c["name"] for c in datamap.load().cookies if c["category"] == "essential"}
    assert set(response.cookies) <= essential
    assert cookies.COOKIE_NAME not in response.cookies


@pytest.mark.promise("P14")
@pytest.mark.promise("P6")
def test_without_a_measurement_id_no_google_code_is_on_the_page(client, settings):
    settings.GA_MEASUREMENT_ID = ""
    response = client.get("/")
    assert config(response)["ga"] is None
    assert b"googletagmanager" not in response.content
    assert "google" not in response.get("Content-Security-Policy", "")


@pytest.mark.promise("P14")
def test_accepting_records_proof_and_sets_the_signed_cookie(client):
    response = choose(
        client, action="accept_all", source="banner", granted=["analytics", "third_party"]
    )
    assert response.status_code == 200
    proof = response.json()
    assert proof["granted"] == ["analytics", "third_party"] and proof["refused"] == []
    record = CookieConsent.objects.get()
    assert str(record.consent_id) == proof["consent_id"]
    assert (record.action, record.source, record.banner_version) == (
        "accept_all",
        "banner",
        version(),
    )
    assert record.policy_version == datamap.load().policy_version
    morsel = response.cookies[cookies.COOKIE_NAME]
    assert morsel["httponly"] and morsel["samesite"] == "Lax"
    # The next page knows the choice.
    assert config(client.get("/"))["state"] == {
        "id": proof["consent_id"],
        "granted": ["analytics", "third_party"],
    }


@pytest.mark.promise("P6")
def test_the_proof_holds_no_ip_address_and_no_user_agent(client):
    client.post(
        "/cookies/choice",
        json.dumps(
            {"action": "reject_all", "source": "banner", "granted": [], "version": version()}
        ),
        content_type="application/json",
        REMOTE_ADDR="203.0.113.77",
        HTTP_USER_AGENT="CanaryBrowser/9.9 (canary-agent)",
    )
    (stored,) = CookieConsent.objects.values()  # every column, as the database holds it
    assert set(stored) == {
        "id",
        "consent_id",
        "action",
        "source",
        "granted",
        "refused",
        "banner_version",
        "policy_version",
        "language",
        "at",
    }
    text = json.dumps(stored, default=str)
    assert "203.0.113" not in text and "Canary" not in text


@pytest.mark.promise("P14")
def test_a_later_choice_keeps_the_consent_id_and_a_withdrawal_is_appended(client):
    first = choose(
        client, action="accept_all", source="banner", granted=["analytics", "third_party"]
    )
    consent_id = first.json()["consent_id"]
    second = choose(client, action="withdraw", source="settings", granted=[], consent_id=consent_id)
    assert second.status_code == 200 and second.json()["consent_id"] == consent_id
    actions = list(CookieConsent.objects.values_list("action", flat=True))
    assert actions == ["accept_all", "withdraw"]
    assert config(client.get("/"))["state"]["granted"] == []


@pytest.mark.promise("P14")
def test_refusing_analytics_expires_the_google_cookies_the_request_carried(client):
    client.cookies["_ga"] = "GA1.1.1.1"
    client.cookies["_ga_TEST123"] = "GS1.1.1"
    response = choose(client, action="reject_all", source="banner", granted=[])
    assert response.cookies["_ga"]["max-age"] == 0
    assert response.cookies["_ga_TEST123"]["max-age"] == 0


def body(action: str, source: str, granted: object, **extra: object) -> dict:
    return {"action": action, "source": source, "granted": granted, **extra}


OTHER_ID = "6f1c2a4e-0000-4000-8000-000000000000"
BAD = {
    "unknown category": (body("custom", "banner", ["marketing"]), "unknown_category"),
    "granted not a list": (body("custom", "banner", "analytics"), "bad_granted"),
    "granted holds a number": (body("custom", "banner", [1]), "bad_granted"),
    "unknown action": (body("maybe", "banner", []), "bad_action"),
    "unknown source": (body("reject_all", "ad-network", []), "bad_source"),
    "action a list": (body(["accept_all"], "banner", []), "bad_action"),  # type: ignore[arg-type]
    "source an object": (body("reject_all", {"s": 1}, []), "bad_source"),  # type: ignore[arg-type]
    "unknown field": (body("reject_all", "banner", [], ip="x"), "unknown_field"),
    "accept all, granting less": (body("accept_all", "banner", ["analytics"]), "inconsistent"),
    "reject all, granting some": (body("reject_all", "banner", ["analytics"]), "inconsistent"),
    "GPC granting": (body("custom", "gpc", ["analytics"]), "inconsistent"),
    "an old banner": (body("reject_all", "banner", [], version="0" * 16), "stale"),
    "someone else's id": (body("reject_all", "banner", [], consent_id=OTHER_ID), "wrong_id"),
    "withdrawing nothing": (body("withdraw", "banner", []), "inconsistent"),
}


@pytest.mark.promise("P14")
@pytest.mark.parametrize("case", BAD, ids=list(BAD))
def test_a_malformed_or_forged_choice_is_refused_and_changes_nothing(client, case):
    body, code = BAD[case]
    response = choose(client, **body)
    assert response.status_code == 400
    assert response.json()["error"] == code and response.json()["reason"]
    assert CookieConsent.objects.count() == 0
    assert cookies.COOKIE_NAME not in response.cookies


@pytest.mark.promise("P14")
def test_malformed_json_and_huge_bodies_are_refused(client):
    for body in ("{not json", "[1, 2]", '"accept"'):
        response = client.post("/cookies/choice", body, content_type="application/json")
        assert response.status_code == 400 and response.json()["error"] == "malformed"
    huge = json.dumps({"action": "reject_all", "source": "banner", "granted": ["x" * 5000]})
    response = client.post("/cookies/choice", huge, content_type="application/json")
    assert response.status_code == 400 and response.json()["error"] == "too_large"
    assert CookieConsent.objects.count() == 0


@pytest.mark.promise("P14")
def test_a_replay_under_another_browsers_id_is_refused(client):
    theirs = choose(
        client, action="accept_all", source="banner", granted=["analytics", "third_party"]
    )
    their_id = theirs.json()["consent_id"]
    client.cookies.clear()
    mine = choose(client, action="reject_all", source="banner", granted=[])
    assert mine.json()["consent_id"] != their_id
    replay = choose(
        client,
        action="accept_all",
        source="banner",
        granted=["analytics", "third_party"],
        consent_id=their_id,
    )
    assert replay.status_code == 400 and replay.json()["error"] == "wrong_id"
    assert CookieConsent.objects.filter(consent_id=their_id).count() == 1


@pytest.mark.promise("P14")
def test_a_choice_without_the_csrf_token_is_refused(settings):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True, HTTP_HOST="127.0.0.1")
    response = strict.post(
        "/cookies/choice",
        json.dumps(
            {
                "action": "accept_all",
                "source": "banner",
                "granted": ["analytics", "third_party"],
                "version": version(),
            }
        ),
        content_type="application/json",
    )
    assert response.status_code == 403
    assert CookieConsent.objects.count() == 0


def cookie_for(granted, *, version_=None, at=None) -> str:
    value = {"i": "6f1c2a4e00004000800000000000abcd", "g": granted, "v": version_ or version()}
    if at is None:
        return signing.dumps(value, salt=cookies.SALT, compress=False)
    with mock.patch("django.core.signing.time.time", return_value=at):
        return signing.dumps(value, salt=cookies.SALT, compress=False)


@pytest.mark.promise("P14")
@pytest.mark.parametrize(
    "value",
    ["", "garbage", "e30:1vXyZ:forged", "not.a.cookie.value"],
    ids=["empty", "garbage", "forged", "dotted"],
)
def test_a_missing_or_corrupt_consent_cookie_means_ask_again(client, value):
    client.cookies[cookies.COOKIE_NAME] = value
    assert config(client.get("/"))["state"] is None


@pytest.mark.promise("P14")
def test_a_forged_grant_with_a_wrong_signature_means_ask_again(client):
    genuine = cookie_for([])
    payload, _, signature = genuine.rpartition(":")
    forged = signing.dumps(
        {"i": "6f1c2a4e00004000800000000000abcd", "g": ["analytics"], "v": version()},
        salt="someone-else",
        compress=False,
    )
    client.cookies[cookies.COOKIE_NAME] = forged
    assert config(client.get("/"))["state"] is None
    client.cookies[cookies.COOKIE_NAME] = genuine
    assert config(client.get("/"))["state"]["granted"] == []


@pytest.mark.promise("P14")
def test_a_choice_older_than_the_reask_period_means_ask_again(client, settings):
    settings.COOKIE_CONSENT_MONTHS = 6
    client.cookies[cookies.COOKIE_NAME] = cookie_for(["analytics"], at=time.time() - 170 * 86400)
    assert config(client.get("/"))["state"]["granted"] == ["analytics"]
    client.cookies[cookies.COOKIE_NAME] = cookie_for(["analytics"], at=time.time() - 190 * 86400)
    assert config(client.get("/"))["state"] is None


@pytest.mark.promise("P14")
def test_a_changed_banner_means_ask_again(client):
    client.cookies[cookies.COOKIE_NAME] = cookie_for(["analytics"], version_="0123456789abcdef")
    assert config(client.get("/"))["state"] is None


@pytest.mark.promise("P13")
def test_the_banner_version_changes_with_the_cookie_list_and_the_texts(tmp_path, settings):
    original = Path(settings.OPERATOR_FILE).read_text()
    cookie_changed, text_changed = tmp_path / "cookie.toml", tmp_path / "text.toml"
    cookie_changed.write_text(original.replace('name = "_ga_*"', 'name = "_gid"'))
    text_changed.write_text(original.replace("Vi bruker nødvendige", "Vi bruker bare nødvendige"))
    versions = {
        datamap.load().banner_version(),
        datamap.load(cookie_changed).banner_version(),
        datamap.load(text_changed).banner_version(),
    }
    assert len(versions) == 3


@pytest.mark.promise("P15")
def test_a_partner_page_to_embed_is_listed_and_asks_everyone_again(client):
    from tests.conftest import make_partner

    before = version()
    client.cookies[cookies.COOKIE_NAME] = cookie_for([])
    assert config(client.get("/"))["state"] is not None
    make_partner(embed_url="https://widget.broker-a.example.com/welcome")
    cookies.forget_embeds()
    assert version() != before
    assert config(client.get("/"))["state"] is None
    page = client.get("/cookies/").content.decode()
    assert "widget.broker-a.example.com" in page and "Broker A" in page


@pytest.mark.promise("P13")
def test_the_consent_cookie_lifetime_shown_is_the_configured_one(settings):
    settings.COOKIE_CONSENT_MONTHS = 12
    datamap._cache.clear()
    consent = next(c for c in datamap.load().cookies if c["name"] == cookies.COOKIE_NAME)
    assert consent["lifetime"] == {"nb": "12 måneder", "en": "12 months"}
    datamap._cache.clear()


@pytest.mark.promise("P14")
def test_the_settings_page_works_without_script(client):
    page = client.get("/cookies/")
    assert page.status_code == 200 and b"tillit_consent" in page.content
    answer = client.post(
        "/cookies/choice", {"choice": "save", "granted": ["analytics"], "version": version()}
    )
    assert answer.status_code == 302 and answer["Location"] == "/cookies/"
    record = CookieConsent.objects.get()
    assert (record.action, record.source, record.granted, record.refused) == (
        "custom",
        "settings",
        ["analytics"],
        ["third_party"],
    )
    # Everything ticked is "accept all"; nothing ticked after a yes is a withdrawal.
    client.post(
        "/cookies/choice",
        {"choice": "save", "granted": ["analytics", "third_party"], "version": version()},
    )
    client.post("/cookies/choice", {"choice": "save", "version": version()})
    assert list(CookieConsent.objects.values_list("action", flat=True)) == [
        "custom",
        "accept_all",
        "withdraw",
    ]
    page = client.get("/cookies/").content.decode()
    assert "trakk tilbake" in page and "Statistikk (Google Analytics)" in page
    stale = client.post("/cookies/choice", {"choice": "accept", "version": "old"})
    assert stale.status_code == 400
    assert "Innstillingene for informasjonskapsler ble endret" in stale.content.decode()
    assert CookieConsent.objects.count() == 3


@pytest.mark.promise("P14")
def test_a_visitor_sees_and_downloads_only_their_own_history(client):
    from django.test import Client

    other = Client(HTTP_HOST="127.0.0.1")
    choose(other, action="accept_all", source="banner", granted=["analytics", "third_party"])
    mine = choose(
        client, action="accept_all", source="banner", granted=["analytics", "third_party"]
    )
    choose(client, action="withdraw", source="settings", granted=[])
    page = client.get("/cookies/").content.decode()
    assert mine.json()["consent_id"] in page
    download = client.get("/cookies/history.json")
    assert download["Content-Disposition"].startswith("attachment")
    history = download.json()
    assert history["consent_id"] == mine.json()["consent_id"]
    assert [c["action"] for c in history["choices"]] == ["accept_all", "withdraw"]
    assert CookieConsent.objects.count() == 3
    assert Client(HTTP_HOST="127.0.0.1").get("/cookies/history.json").json()["choices"] == []


@pytest.mark.promise("P14")
def test_the_proof_is_append_only(client):
    choose(client, action="reject_all", source="banner", granted=[])
    record = CookieConsent.objects.get()
    record.action = "accept_all"
    with pytest.raises(AppendOnly):
        record.save()
    with pytest.raises(AppendOnly):
        record.delete()


@pytest.mark.promise("P14")
def test_gpc_is_seen_by_the_server_and_never_counts_as_consent(client):
    assert config(client.get("/", HTTP_SEC_GPC="1"))["gpc"] is True
    assert config(client.get("/"))["gpc"] is False
    refused = choose(
        client, action="accept_all", source="gpc", granted=["analytics", "third_party"]
    )
    assert refused.status_code == 400
    recorded = choose(client, action="reject_all", source="gpc", granted=[])
    assert recorded.json()["source"] == "gpc" and recorded.json()["refused"] == [
        "analytics",
        "third_party",
    ]


@pytest.mark.promise("P13")
def test_the_banner_files_fit_the_budget():
    """Ours, JS and CSS together: at most 6 KB gzip (vanilla-cookieconsent is 15.5 KB)."""
    shipped = (STATIC / "consent.js").read_bytes() + (STATIC / "consent.css").read_bytes()
    assert len(gzip.compress(shipped, 9)) <= 6 * 1024


@pytest.mark.promise("P21")
def test_staff_see_only_aggregate_rates(client, privacy_officer):
    from django.test import Client

    visitor = Client(HTTP_HOST="127.0.0.1")
    mine = choose(
        visitor, action="accept_all", source="banner", granted=["analytics", "third_party"]
    )
    choose(client, action="reject_all", source="banner", granted=[])
    client.cookies.clear()
    choose(client, action="custom", source="banner", granted=["analytics"])
    staff = Client(HTTP_HOST="127.0.0.1")
    sign_in(staff, privacy_officer)
    page = staff.get("/console/cookie-consent/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "3 choices in the last 30 days" in html
    assert "<td>analytics</td><td>2</td><td>67%</td>" in html
    assert "<td>third_party</td><td>1</td><td>33%</td>" in html
    # No single choice is shown, and there is no list of choices to open.
    assert mine.json()["consent_id"] not in html
    assert staff.get("/console/consent/cookieconsent/").status_code == 404
    assert "/console/cookie-consent/" in staff.get("/console/").content.decode()


@pytest.mark.promise("P21")
def test_the_rates_page_is_for_staff_only(client):
    answer = client.get("/console/cookie-consent/")
    assert answer.status_code == 302 and "/console/login/" in answer["Location"]
