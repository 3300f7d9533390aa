"""Two reference partners as separate processes, one for Norway and one for Sweden: each
person's request reaches the partner that holds their data and no other. And a partner
without a rights API answers through the link e-mailed to its privacy contact, uploading the
person's data over real HTTP."""

from __future__ import annotations

import io
import json
import re
import zipfile

import httpx
import pytest

from tests.e2e.conftest import CONFIRM_LINK, csrf_token, partner_leads, until
from tests.e2e.test_rights_fanout import KARI, ask, completion_mail
from tests.processes import reference_partner

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

SVEN = {
    "name": "Sven Svensson",
    "email": "sven@example.com",
    "country": "SE",
    "phone": "",
    "consent_partner": "on",
    "consent_offers": "on",
}
SWEDISH_CONTACT = "integritet@maklare.example.com"


def sign_up(site, smtp, visitors, who: dict[str, str]):
    person = visitors(site.url)
    person.sign_up(who)
    person.confirm(smtp.wait_for(who["email"]).link(CONFIRM_LINK))
    return person


def unzip(person, mail) -> dict[str, bytes]:
    link = re.search(r"http://127\.0\.0\.1:\d+/privacy/download/[^\s/]+/", mail.text).group(0)
    page = person.http.get(link)
    got = person.http.post(link, data={"csrfmiddlewaretoken": csrf_token(page.text)})
    assert got.status_code == 200, got.status_code
    with zipfile.ZipFile(io.BytesIO(got.content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def add_swedish(site, swedish, *options: str) -> None:
    """The Swedish reference partner, serving Sweden (with extra `partners add` options)."""
    site.add_partner(
        "maklare",
        name="Mäklare Exempel AB",
        endpoint=swedish.url,
        privacy_url=swedish.url + "/privacy",
        countries="SE",
        secret=swedish.secret,
        options=options,
    )


@pytest.fixture
def two_partners(make_operator, reference, smtp, tmp_path):
    """The Norwegian partner (`reference`) and a Swedish one, each its own process."""
    with reference_partner(tmp_path / "swedish") as swedish:
        site = make_operator(smtp_port=smtp.port)
        site.add_reference_partner(reference)
        yield site, swedish


@pytest.mark.promise("P24")
@pytest.mark.promise("P29")
@pytest.mark.promise("P25")
@pytest.mark.promise("P33")
def test_each_request_reaches_only_the_partner_that_holds_the_data(
    two_partners, reference, smtp, visitors
):
    site, swedish = two_partners
    add_swedish(site, swedish)
    site.start_web()
    site.start_worker()
    kari = sign_up(site, smtp, visitors, KARI)
    sven = sign_up(site, smtp, visitors, SVEN)
    until(lambda: len(partner_leads(reference)) == 1, 30, "the Norwegian partner has Kari")
    until(lambda: len(partner_leads(swedish)) == 1, 30, "the Swedish partner has Sven")
    erased = ask(kari, smtp, "erasure")
    seen = ask(sven, smtp, "access", SVEN["email"])
    until(lambda: partner_leads(reference) == [], 30, "Kari's partner deletes her")
    told = completion_mail(smtp, erased)
    assert "Megler Eksempel AS" in told.text and "Mäklare" not in told.text
    files = unzip(sven, completion_mail(smtp, seen, SVEN["email"]))
    data = json.loads(files["data.json"])
    assert [(h["holder"], h["name"]) for h in data["held_by_partners"]] == [
        ("Mäklare Exempel AB", SVEN["name"])
    ]
    assert data["facts"]["authority"]["name"].startswith("Integritetsskyddsmyndigheten")
    # Sven's partner kept him: an erasure for Kari never reached it.
    assert [lead["name"] for lead in partner_leads(swedish)] == [SVEN["name"]]
    assert site.db.rows(
        "SELECT p.slug, t.state FROM rights_partnertask t "
        "JOIN partners_partner p ON p.id = t.partner_id ORDER BY p.slug"
    ) == [("maklare", "completed"), ("megler", "completed")]


@pytest.mark.promise("P25")
@pytest.mark.promise("P28")
@pytest.mark.promise("P16")
def test_a_partner_without_an_api_uploads_the_answer_through_its_link(two_partners, smtp, visitors):
    site, swedish = two_partners
    add_swedish(site, swedish, "--no-rights-api", "--privacy-email", SWEDISH_CONTACT)
    site.start_web()
    site.start_worker()
    sven = sign_up(site, smtp, visitors, SVEN)
    until(lambda: len(partner_leads(swedish)) == 1, 30, "the Swedish partner has Sven")
    seen = ask(sven, smtp, "portability", SVEN["email"])
    request = smtp.wait_for(SWEDISH_CONTACT)
    assert SVEN["name"] not in request.text and SVEN["email"] not in request.text
    link = request.link(r"http://127\.0\.0\.1:\d+/en/privacy/partner-answer/[^\s/]+/")
    # The partner's privacy officer, in their own browser.
    with httpx.Client(timeout=20) as officer:
        page = officer.get(link)
        assert page.status_code == 200
        lead_id = partner_leads(swedish)[0]["subject_ref"]
        assert lead_id in page.text  # who, by the reference the partner already has
        held = {"records": [{"name": SVEN["name"], "policy": "canary-policy-0815"}]}
        answered = officer.post(
            link,
            data={"answer": "done", "csrfmiddlewaretoken": csrf_token(page.text)},
            files={"file": ("sven.json", json.dumps(held).encode(), "application/json")},
        )
        assert answered.status_code == 200, answered.text
        assert officer.get(link).status_code == 410
    files = unzip(sven, completion_mail(smtp, seen, SVEN["email"]))
    assert json.loads(files["from-partners/maklare-sven.json"]) == held
    # The upload was sealed at rest and is gone now that it is in the (downloaded) export.
    assert (
        site.db.scalar(
            "SELECT count(*) FROM vault_envelope WHERE purpose IN ('partner-answer', 'export')"
        )
        == 0
    )
