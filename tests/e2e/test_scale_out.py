"""Several `tillit web` and `tillit worker` processes on one database, started on their own ports
as if on different machines: a person may sign up through one and confirm through another, no
work is done twice (one e-mail each, one lead each at the partner) and none is lost. (The limits
across web processes: test_limits.py.)"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import CONFIRM_LINK, ON_POSTGRES, csrf_token, partner_leads, until
from tests.processes import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

PEOPLE = 24


def person(i: int) -> dict[str, str]:
    return {
        "name": f"Spredt Person {i}",
        "email": f"spredt-{i}@example.com",
        "phone": "",
        "country": "NO",
        "consent_partner": "on",
    }


@pytest.mark.skipif(
    not ON_POSTGRES,
    reason="several machines share PostgreSQL (SQLite: tests/test_sqlite_writers.py)",
)
@pytest.mark.promise("P17")
@pytest.mark.promise("P3")
def test_two_web_and_two_worker_processes_share_the_work_without_doing_it_twice(
    make_operator, reference, smtp, visitors
):
    site = make_operator(smtp_port=smtp.port)
    site.add_reference_partner(reference)
    second_port = free_port()
    webs = [site.url, f"http://127.0.0.1:{second_port}"]
    site.start_web("web-1")
    site.start_web("web-2", port=second_port)
    site.start_worker("worker-1")
    site.start_worker("worker-2")

    people = [(person(i), visitors(webs[i % 2])) for i in range(PEOPLE)]
    for fields, browser in people:
        assert browser.sign_up(fields).url.path == "/sent/"

    # Each confirmation e-mail is sent once, by one of the workers; each person confirms
    # through the other web process than the one they signed up at.
    for i, (fields, browser) in enumerate(people):
        mail = smtp.wait_for(fields["email"])
        link = mail.link(CONFIRM_LINK).replace(site.url, webs[(i + 1) % 2])
        page = browser.http.get(link)
        assert page.status_code == 200, page.text
        confirmed = browser.http.post(link, data={"csrfmiddlewaretoken": csrf_token(page.text)})
        assert confirmed.status_code == 200, confirmed.text
    assert all(len(smtp.to(fields["email"])) == 1 for fields, _ in people), "an e-mail went twice"

    leads = until(
        lambda: (found := partner_leads(reference)) and len(found) >= PEOPLE and found,
        60,
        "the partner receives every lead",
    )
    assert sorted(lead["email"] for lead in leads) == sorted(f["email"] for f, _ in people)
    assert len({lead["lead_id"] for lead in leads}) == PEOPLE, "the partner holds a lead twice"
    assert until(
        lambda: site.db.states() == {"delivered": PEOPLE}, 30, "every delivery is recorded"
    )
    for name in ("web-1", "web-2", "worker-1", "worker-2"):
        assert site.procs[name].poll() is None, f"{name} died"
