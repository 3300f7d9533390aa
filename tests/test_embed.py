"""The sign-up and the cookie choice from an operator's own site: the JSON API (embed/api.py),
its OpenAPI document, the framed form and the scripts (embed/views.py). The same rules as
tillit's own form and banner, and nothing opened to a site the operator did not list.

The example data map lists https://www.example.com (`[embed] origins`)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from django.test import Client
from openapi_spec_validator import validate

from tests.test_signup import everything_stored, nothing_kept
from tillit import datamap
from tillit.consent.models import ConsentRecord, CookieConsent
from tillit.subjects.models import Subject

pytestmark = pytest.mark.django_db

SITE = "https://www.example.com"
STRANGER = "https://elsewhere.example.com"
CANARY = {"name": "Kanarifugl Åsmundsdóttir", "email": "kanari.embed-5c1e@example.com"}


def person(**overrides: Any) -> dict[str, Any]:
    return {
        "name": CANARY["name"],
        "email": CANARY["email"],
        "phone": "912 34 567",
        "country": "NO",
        "consents": {"referral": True, "offers": False},
        **overrides,
    }


def api(client: Client, path: str, body: Any, origin: str | None = SITE, **headers: str) -> Any:
    if origin:
        headers["HTTP_ORIGIN"] = origin
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    content_type = headers.pop("content_type", "application/json")
    return client.post(f"/api/v1/{path}", data, content_type=content_type, **headers)


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    from tillit.embed.openapi import document

    return document(datamap.load())


def fits(schema: dict[str, Any], response: Any, path: str, method: str = "post") -> dict:
    """The answer is one the OpenAPI document names, in the shape it gives."""
    described = schema["paths"][f"/api/v1/{path}"][method]["responses"]
    assert str(response.status_code) in described, f"{response.status_code} is not described"
    ref = described[str(response.status_code)]["content"]["application/json"]["schema"]["$ref"]
    body = response.json()
    jsonschema.validate(
        body, {**schema["components"]["schemas"][ref.rsplit("/", 1)[1]], **{"$defs": {}}}
    )
    return body


@pytest.mark.promise("P3")
@pytest.mark.promise("P9")
def test_a_listed_site_signs_a_person_up_through_the_api_and_nothing_readable_is_kept(
    client, partner, schema
):
    response = api(client, "signups", person())
    body = fits(schema, response, "signups")
    assert response.status_code == 202 and body["status"] == "accepted"
    assert set(ConsentRecord.objects.values_list("method", flat=True)) == {"api-v1"}
    assert response["Access-Control-Allow-Origin"] == SITE
    assert "Origin" in response["Vary"] and "Access-Control-Allow-Credentials" not in response
    assert "Set-Cookie" not in response and not response.cookies
    subject = Subject.objects.get()
    assert subject.partner == partner and subject.state == "pending"
    consents = {r.purpose: r.action for r in ConsentRecord.objects.all()}
    assert consents == {"referral": "given", "offers": "refused"}
    stored = everything_stored()
    assert CANARY["name"] not in stored and CANARY["email"] not in stored
    # A known address gets the same answer (the news goes to the address itself).
    again = api(client, "signups", person())
    assert again.status_code == 202 and again.json() == body


@pytest.mark.promise("P5")
def test_the_api_refuses_in_the_language_asked_for_and_keeps_nothing(client, partner, schema):
    bad = person(email="not an address", consents={"offers": True}, language="en")
    response = api(client, "signups", bad)
    body = fits(schema, response, "signups")
    assert response.status_code == 400 and body["error"] == "invalid"
    assert body["fields"]["email"][0]["message"].startswith("That does not look like an e-mail")
    assert "consents.referral" in body["fields"]
    nb = api(client, "signups", {**bad, "language": "nb"}).json()
    assert nb["fields"]["email"][0]["message"] != body["fields"]["email"][0]["message"]
    assert nothing_kept()


@pytest.mark.promise("P5")
@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (person(ssn="01019912345"), "unknown_field", "ssn"),
        (person(consents={"referral": True, "newsletter": True}), "unknown_consent", None),
        (person(consents={"referral": "yes"}), "bad_type", "consents.referral"),
        (person(name=["Kari"]), "bad_type", "name"),
        ([1, 2], "malformed", None),
        ("{not json", "malformed", None),
    ],
)
def test_what_the_form_would_not_take_the_api_does_not_take(client, partner, body, code, field):
    response = api(client, "signups", body)
    answer = response.json()
    assert response.status_code == 400 and answer["error"] == code
    if field:
        assert field in answer["fields"]
    assert "01019912345" not in response.content.decode()  # a value is never echoed
    assert nothing_kept()


def test_a_country_without_a_partner_is_refused_by_its_field(client, partner):
    response = api(client, "signups", person(country="DE", language="en"))
    assert response.status_code == 400
    assert response.json()["fields"]["country"][0]["message"].startswith("We have no partner")
    assert nothing_kept()


@pytest.mark.promise("P5")
def test_a_site_the_operator_did_not_list_gets_nothing(client, partner):
    response = api(client, "signups", person(), origin=STRANGER)
    assert response.status_code == 403 and response.json()["error"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in response
    # The browser's question before a cross-site JSON post: yes to the listed site only.
    asked = client.options(
        "/api/v1/signups",
        HTTP_ORIGIN=STRANGER,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type",
    )
    assert "Access-Control-Allow-Origin" not in asked
    listed = client.options(
        "/api/v1/signups",
        HTTP_ORIGIN=SITE,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type",
    )
    assert listed.status_code == 204 and listed["Access-Control-Allow-Origin"] == SITE
    assert "POST" in listed["Access-Control-Allow-Methods"]
    assert listed["Access-Control-Allow-Headers"] == "Content-Type"
    # A page anywhere can post a form without asking first; the API takes JSON only.
    form = client.post("/api/v1/signups", {"name": "x"}, HTTP_ORIGIN=STRANGER)
    assert form.status_code == 403
    plain = api(client, "signups", json.dumps(person()), origin=None, content_type="text/plain")
    assert plain.status_code == 415 and plain.json()["error"] == "not_json"
    assert nothing_kept()


def test_the_api_has_the_forms_limit_per_address(client, partner, settings):
    settings.SIGNUPS_PER_IP_PER_HOUR = 2
    for i in range(2):
        assert api(client, "signups", person(email=f"p{i}@example.com")).status_code == 202
    limited = api(client, "signups", person(email="p9@example.com", language="en"))
    assert limited.status_code == 429 and limited.json()["error"] == "rate_limited"
    assert 0 < int(limited["Retry-After"]) <= 3600
    assert Subject.objects.count() == 2


def test_the_openapi_document_is_valid_and_names_the_data_maps_choices(client):
    response = client.get("/api/v1/openapi.json")
    document = response.json()
    validate(document)
    assert response["Access-Control-Allow-Origin"] == "*"
    signup = document["components"]["schemas"]["Signup"]
    assert signup["properties"]["country"]["enum"] == datamap.load().countries
    assert set(signup["properties"]["consents"]["properties"]) == {"referral", "offers"}
    assert signup["properties"]["consents"]["required"] == ["referral"]
    choice = document["components"]["schemas"]["CookieChoice"]
    assert choice["properties"]["granted"]["items"]["enum"] == ["analytics", "third_party"]


def test_the_form_and_the_banner_are_described_in_either_language(client):
    form = client.get("/api/v1/signup-form?language=en", HTTP_ORIGIN=SITE)
    body = form.json()
    assert form["Access-Control-Allow-Origin"] == SITE
    assert [f["name"] for f in body["fields"]] == ["name", "email", "phone", "country"]
    assert {"code": "NO", "name": "Norway"} in body["countries"]
    assert [c["id"] for c in body["consents"]] == ["referral", "offers"]
    nb = client.get("/api/v1/signup-form?language=nb").json()
    assert {"code": "NO", "name": "Norge"} in nb["countries"]
    banner = client.get("/api/v1/cookie-banner?language=en").json()
    assert [c["id"] for c in banner["categories"]] == ["essential", "analytics", "third_party"]
    assert banner["version"] and banner["max_age"] > 0


@pytest.mark.promise("P12")
def test_a_cookie_choice_from_a_listed_site_is_proven_and_its_token_links_the_next(client, schema):
    version = client.get("/api/v1/cookie-banner").json()["version"]
    first = api(
        client,
        "cookie-choices",
        {"action": "accept_all", "source": "banner", "granted": ["analytics", "third_party"]}
        | {"version": version},
    )
    proof = fits(schema, first, "cookie-choices")
    assert first.status_code == 201 and first["Access-Control-Allow-Origin"] == SITE
    assert "Set-Cookie" not in first and not first.cookies  # the site keeps the token
    withdrawn = api(
        client,
        "cookie-choices",
        {"action": "withdraw", "source": "settings", "granted": [], "version": version}
        | {"consent_id": proof["consent_id"], "token": proof["token"]},
    )
    assert withdrawn.status_code == 201
    assert withdrawn.json()["consent_id"] == proof["consent_id"]
    log = list(CookieConsent.objects.values_list("consent_id", "action"))
    assert [a for _, a in log] == ["accept_all", "withdraw"] and len({i for i, _ in log}) == 1
    # An altered token is no token: the choice cannot claim another browser's history.
    forged = proof["token"][:-2] + ("AA" if not proof["token"].endswith("AA") else "BB")
    refused = api(
        client,
        "cookie-choices",
        {"action": "reject_all", "source": "settings", "granted": [], "version": version}
        | {"consent_id": proof["consent_id"], "token": forged, "language": "en"},
    )
    assert refused.status_code == 400 and refused.json()["error"] == "wrong_id"
    stale = api(
        client,
        "cookie-choices",
        {"action": "reject_all", "source": "banner", "granted": [], "version": "old"}
        | {"language": "en"},
    )
    assert stale.status_code == 400 and stale.json()["error"] == "stale"
    assert stale.json()["message"].startswith("The cookie settings changed")
    assert CookieConsent.objects.count() == 2


@pytest.mark.promise("P12")
def test_the_framed_form_may_be_framed_by_listed_sites_only_and_sets_no_cookie(client, partner):
    page = client.get("/embed/signup/")
    csp = page["Content-Security-Policy"]
    assert f"frame-ancestors 'self' {SITE};" in csp
    assert "X-Frame-Options" not in page
    assert "Set-Cookie" not in page and not page.cookies
    html = page.content.decode()
    assert 'name="csrfmiddlewaretoken"' not in html and 'name="consent_partner"' in html
    en = client.get("/en/embed/signup/").content.decode()
    assert 'lang="en"' in en and 'action="/en/embed/signup/"' in en


@pytest.mark.promise("P3")
def test_the_framed_form_signs_up_like_the_form_and_refuses_posts_from_elsewhere(
    client, partner, visitor
):
    own = "http://testserver"
    sent = client.post("/embed/signup/", visitor, HTTP_ORIGIN=own)
    assert sent.status_code == 302 and sent["Location"] == "/embed/signup/sent/"
    assert Subject.objects.count() == 1
    page = client.get("/embed/signup/sent/")
    assert "frame-ancestors" in page["Content-Security-Policy"]
    bad = client.post("/embed/signup/", {**visitor, "email": "nope"}, HTTP_ORIGIN=own)
    assert bad.status_code == 400 and 'role="alert"' in bad.content.decode()
    forged = client.post(
        "/embed/signup/", {**visitor, "email": "other@example.com"}, HTTP_ORIGIN=STRANGER
    )
    assert forged.status_code == 403 and Subject.objects.count() == 1
    # Refused in the frame: framed as the form is, with no cookie dialog and no cookie.
    assert "frame-ancestors 'self' https://www.example.com" in forged["Content-Security-Policy"]
    assert "X-Frame-Options" not in forged and not forged.cookies
    assert 'id="cc"' not in forged.content.decode()
    assert set(ConsentRecord.objects.values_list("method", flat=True)) == {"embedded-form"}


def test_with_no_site_listed_nobody_may_frame_the_form_or_call_the_api(
    client, partner, tmp_path, settings
):
    text = settings.OPERATOR_FILE.read_text(encoding="utf-8")
    changed = tmp_path / "operator.toml"
    changed.write_text(text.replace('origins = ["https://www.example.com"]', "origins = []"))
    settings.OPERATOR_FILE = changed
    assert "frame-ancestors 'self';" in client.get("/embed/signup/")["Content-Security-Policy"]
    assert api(client, "signups", person()).status_code == 403
    assert nothing_kept()


def test_an_origin_that_is_not_one_is_a_data_map_mistake():
    text = datamap.Path(datamap.settings.OPERATOR_FILE).read_text(encoding="utf-8")
    for wrong in (
        "https://www.example.com/signup",
        "http://www.example.com",
        "*",
        "HTTPS://X",
        "https://www.example.com:443",  # a browser never sends the scheme's own port
        "https://www.example.com:99999",
    ):
        found = datamap.problems_in(text.replace(f'origins = ["{SITE}"]', f'origins = ["{wrong}"]'))
        assert any("embed.origins" in message for _, message in found), wrong
    assert datamap.problems_in(text) == []


@pytest.mark.promise("P12")
def test_the_banner_script_sets_consent_modes_defaults_and_is_revalidated(client):
    script = client.get("/embed/banner.js")
    body = script.content.decode()
    assert script["Content-Type"].startswith("text/javascript")
    assert script["Cache-Control"] == "no-cache"
    assert script["Cross-Origin-Resource-Policy"] == "cross-origin"
    config = json.loads(body[len("window.TILLIT_CC = ") : body.index(";\n")])
    assert config["url"].endswith("/api/v1/cookie-choices") and config["embedded"] is True
    assert set(config["html"]) == {"nb", "en"} and 'id="cc"' in config["html"]["en"]
    again = client.get("/embed/banner.js", HTTP_IF_NONE_MATCH=script["ETag"])
    assert again.status_code == 304
    frame = client.get("/embed/signup.js").content.decode()
    assert "/en/embed/signup/" in frame and "insertBefore" in frame


@pytest.mark.promise("P21")
def test_the_console_shows_the_administrator_the_snippets_to_paste(
    client, administrator, support, settings
):
    from tests.conftest import sign_in

    sign_in(client, administrator)
    page = client.get("/console/your-site/")
    html = page.content.decode()
    assert page.status_code == 200
    site = settings.SITE_URL
    assert f"&lt;script src=&quot;{site}/embed/banner.js&quot;&gt;&lt;/script&gt;" in html
    assert f"{site}/embed/signup.js" in html and f"{site}/api/v1/openapi.json" in html
    assert "<code>https://www.example.com</code>" in html
    assert 'class="embed-preview" src="/en/embed/signup/"' in html  # in the console's language
    index = client.get("/console/").content.decode()
    assert 'href="/console/your-site/"' in index
    # The preview frame loads: tillit's own pages may frame the form.
    assert "'self'" in client.get("/embed/signup/")["Content-Security-Policy"]
    client.logout()
    sign_in(client, support)
    assert client.get("/console/your-site/").status_code == 403


def test_tillit_embed_prints_the_snippets_and_an_example_page(settings):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("embed", stdout=out)
    text = out.getvalue()
    assert "https://www.example.com" in text
    assert f'<script src="{settings.SITE_URL}/embed/banner.js"></script>' in text
    page = StringIO()
    call_command("embed", "--page", "--language", "en", stdout=page)
    html = page.getvalue()
    assert html.startswith("<!doctype html>") and '<html lang="en">' in html
    assert html.index("/embed/banner.js") < html.index("</head>") < html.index("/embed/signup.js")


def test_a_refused_cookie_choice_does_not_repeat_what_was_sent(client):
    version = client.get("/api/v1/cookie-banner").json()["version"]
    answer = api(
        client,
        "cookie-choices",
        {"action": "custom", "source": "banner", "granted": ["kari@example.com"]}
        | {"version": version},
    )
    assert answer.status_code == 400 and answer.json()["error"] == "unknown_category"
    assert "kari@example.com" not in answer.content.decode()


def test_the_banner_script_is_served_while_the_database_is_away(client, monkeypatch):
    from django.db import DatabaseError

    from tillit.consent import cookies
    from tillit.partners.models import Partner

    first = client.get("/embed/banner.js")
    cookies.forget_embeds()

    def away(*args, **kwargs):
        raise DatabaseError("the database is away")

    monkeypatch.setattr(Partner.objects, "compliant", away)
    again = client.get("/embed/banner.js")
    assert again.status_code == 200 and again.content == first.content
