"""The limits that guard people hold across web processes, tried as an attacker would.

Two `tillit web` processes on one data directory (or one PostgreSQL database), as an operator
runs them behind a load balancer; the attacker's requests alternate between them. Counted in
each process's own memory, every limit would double: 25 requests for one address would put
10 codes in its inbox where the limit is 5 an hour. The counters live where both processes
look: in the shared database by default, in Redis when it is configured, and in the database
again while Redis cannot be reached.
"""

from __future__ import annotations

import secrets

import pytest

from tests.e2e.conftest import csrf_token, until
from tests.processes import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240), pytest.mark.promise("P3")]

CACHES = {
    "database": {},
    "redis": {"TILLIT_REDIS_URL": "redis://127.0.0.1:6379/3"},
    # Redis configured but away: the database counts instead; the limits do not lift.
    "redis away": {"TILLIT_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"},
}


@pytest.fixture(params=list(CACHES))
def site(request, make_operator, smtp):
    """The operator with two web processes and the shipped limits, but for sign-ups and
    contact messages per IP, lowered so that a test need not post dozens of forms."""
    operator = make_operator(
        smtp_port=smtp.port,
        TILLIT_SIGNUPS_PER_IP_PER_HOUR="4",
        TILLIT_CONTACT_MESSAGES_PER_IP_PER_HOUR="3",
        TILLIT_RIGHTS_CHECKS_PER_IP_PER_HOUR="6",
        **CACHES[request.param],
    )
    operator.add_unreachable_partner()  # someone to refer Norway to; nothing is sent
    operator.webs = [operator.url, f"http://127.0.0.1:{free_port()}"]
    operator.start_web("web-1")
    operator.start_web("web-2", port=int(operator.webs[1].rsplit(":", 1)[1]))
    return operator


def posted(visitors, site, i: int, path: str, fields: dict[str, str]) -> int:
    """GET the form from one of the two processes (by turn) and POST it there: the status."""
    browser = visitors(site.webs[i % 2])
    form = browser.http.get(path)
    assert form.status_code == 200, form.text
    answer = browser.http.post(path, data={**fields, "csrfmiddlewaretoken": csrf_token(form.text)})
    return answer.status_code


def test_codes_for_one_address_stop_at_the_limit_across_web_processes(site, smtp, visitors):
    address = f"offer-{secrets.token_hex(4)}@example.com"
    statuses = [
        posted(visitors, site, i, "/en/privacy/", {"kind": "access", "email": address})
        for i in range(25)
    ]
    assert statuses.count(302) == 5, statuses  # RIGHTS_CODES_PER_ADDRESS_PER_HOUR
    assert set(statuses[5:]) == {429}
    site.command("worker", "--drain")
    codes = until(lambda: smtp.to(address) if len(smtp.to(address)) >= 5 else None, 30, "codes")
    assert len(codes) == 5, f"{len(codes)} codes reached one inbox"
    # The 25 requests used up the IP's 20 codes an hour though each process saw only 13 of
    # them: another address from the same network is refused too.
    other = f"other-{secrets.token_hex(4)}@example.com"
    assert posted(visitors, site, 0, "/en/privacy/", {"kind": "access", "email": other}) == 429
    assert posted(visitors, site, 1, "/en/privacy/", {"kind": "access", "email": other}) == 429


def test_sign_ups_per_ip_stop_at_the_limit_across_web_processes(site, visitors):
    tag = secrets.token_hex(3)
    statuses = [
        posted(
            visitors,
            site,
            i,
            "/en/",
            {
                "name": f"Grense Person {i}",
                "email": f"grense-{tag}-{i}@example.com",
                "phone": "",
                "country": "NO",
                "consent_partner": "on",
            },
        )
        for i in range(7)
    ]
    assert statuses == [302] * 4 + [429] * 3
    site.command("worker", "--drain")  # records the sign-ups the web processes sealed
    assert site.db.scalar("SELECT COUNT(*) FROM subjects_subject") == 4


def test_contact_messages_per_ip_stop_at_the_limit_across_web_processes(site, visitors):
    statuses = [
        posted(
            visitors,
            site,
            i,
            "/en/contact/",
            {"email": "skriver@example.com", "message": f"Message number {i} about my data."},
        )
        for i in range(6)
    ]
    assert statuses == [302] * 3 + [429] * 3
    assert site.db.scalar("SELECT COUNT(*) FROM contact_contactmessage") == 3


def test_code_guesses_per_ip_stop_at_the_limit_across_web_processes(site, visitors):
    browser = visitors(site.webs[0])
    form = browser.http.get("/en/privacy/")
    started = browser.http.post(
        "/en/privacy/",
        data={
            "kind": "access",
            "email": f"gjett-{secrets.token_hex(4)}@example.com",
            "csrfmiddlewaretoken": csrf_token(form.text),
        },
    )
    assert started.status_code == 302
    verify = started.headers["location"]
    # A new challenge per guess would dodge the challenge's own five tries; the per-IP limit on
    # checks (6 here) holds across both processes all the same.
    statuses = [posted(visitors, site, i, verify, {"code": "000000"}) for i in range(9)]
    assert 429 not in statuses[:6] and statuses[6:] == [429] * 3, statuses
