"""The scanner's judgement, given what a browser saw: each cookie, storage entry and request is
declared and allowed, present before consent, or undeclared."""

from __future__ import annotations

import pytest

from tillit import datamap
from tillit.consent.scan import Observation, judge

SITE = "http://127.0.0.1:8000"


def verdicts(state: str, **seen) -> dict[str, str]:
    found = judge(SITE, Observation(state, **seen), datamap.load())
    return {f.name: f.verdict for f in found}


def cookie(name: str, domain: str = "127.0.0.1") -> dict[str, str]:
    return {"name": name, "domain": domain}


@pytest.mark.promise("P13")
def test_essential_cookies_are_fine_in_every_state():
    for state in ("no choice", "reject all", "accept all"):
        assert verdicts(state, cookies=[cookie("csrftoken"), cookie("tillit_consent")]) == {
            "csrftoken": "ok",
            "tillit_consent": "ok",
        }


@pytest.mark.promise("P14")
def test_analytics_cookies_are_allowed_only_after_accept():
    seen = {"cookies": [cookie("_ga"), cookie("_ga_ABC123")]}
    assert set(verdicts("accept all", **seen).values()) == {"ok"}
    assert set(verdicts("no choice", **seen).values()) == {"BEFORE CONSENT"}
    assert set(verdicts("reject all", **seen).values()) == {"BEFORE CONSENT"}


@pytest.mark.promise("P13")
def test_an_undeclared_cookie_or_storage_entry_fails_in_any_state():
    for state in ("no choice", "accept all"):
        assert verdicts(state, cookies=[cookie("_fbp")], storage=[("local", "tracker")]) == {
            "_fbp": "UNDECLARED",
            "tracker": "UNDECLARED",
        }


@pytest.mark.promise("P14")
@pytest.mark.promise("P15")
def test_third_party_requests_are_matched_to_declared_hosts():
    requests = [
        f"{SITE}/static/site/site.css",  # the site itself: not a third party
        "https://www.googletagmanager.com/gtag/js?id=G-X",
        "https://region1.google-analytics.com/g/collect?v=2",
        "https://tracker.invalid/pixel.gif",
    ]
    assert verdicts("accept all", requests=requests) == {
        "www.googletagmanager.com": "ok",
        "region1.google-analytics.com": "ok",
        "tracker.invalid": "UNDECLARED",
    }
    assert verdicts("reject all", requests=requests[:2]) == {
        "www.googletagmanager.com": "BEFORE CONSENT"
    }


@pytest.mark.promise("P15")
def test_a_cookie_on_a_declared_third_party_host_takes_its_category():
    seen = {"cookies": [cookie("NID", ".google-analytics.com")]}
    assert verdicts("accept all", **seen) == {"NID": "ok"}
    assert verdicts("no choice", **seen) == {"NID": "BEFORE CONSENT"}


@pytest.mark.promise("P15")
def test_a_partners_embed_is_a_declared_third_party_for_requests_and_cookies():
    embeds = [{"host": "localhost:8001", "category": "third_party", "provider": "Demo"}]
    seen = Observation(
        "accept all",
        requests=["http://localhost:8001/embed"],
        cookies=[cookie("partner_visitor", "localhost")],
    )
    assert {f.verdict for f in judge(SITE, seen, datamap.load(), embeds)} == {"ok"}
    seen.state = "reject all"
    assert {f.verdict for f in judge(SITE, seen, datamap.load(), embeds)} == {"BEFORE CONSENT"}
    assert {f.verdict for f in judge(SITE, seen, datamap.load())} == {"UNDECLARED"}


@pytest.mark.promise("P14")
def test_a_cookie_on_a_parent_domain_of_the_site_is_the_sites_own():
    """Google's tag puts _ga on the registrable domain (.example.com) of www.example.com."""
    found = judge(
        "https://www.example.com",
        Observation("reject all", cookies=[cookie("_ga", ".example.com")]),
        datamap.load(),
    )
    assert [(f.name, f.category, f.verdict) for f in found] == [
        ("_ga", "analytics", "BEFORE CONSENT")
    ]
