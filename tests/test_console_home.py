"""The console opens on each role's work (issue 15, point 6): support on open messages and rights
requests by deadline; the privacy officer on deadlines, alarms, partners' open tasks and rates
over time; the administrator on partners' health, the worker's backlog and the log. Charts
have axes with dates and values, and the same numbers as a table; nobody's details are shown."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.conftest import sign_in
from tests.rights_helpers import kari, requested  # noqa: F401  (a fixture)
from tillit.audit.models import record
from tillit.console import charts
from tillit.partners.models import Delivery, DeliveryState
from tillit.rights.models import RightsRequest

# The worker's job loop runs here (the rights request's code e-mail), and it closes a
# connection it finds inside a transaction (on PostgreSQL): each test commits.
pytestmark = pytest.mark.django_db(transaction=True)

CANARY = "Kanarifugl-melding-9e1"


@pytest.fixture
def busy(client, kari):  # noqa: F811
    """An open contact message, a rights request past its deadline, a failed delivery, a secret
    rotation and some cookie choices."""
    client.post(
        "/contact/", {"email": "kari@example.com", "message": f"Hei, {CANARY}", "name": CANARY}
    )
    request = requested(client, "access")
    RightsRequest.objects.filter(pk=request.pk).update(due_at=timezone.now() - timedelta(days=2))
    Delivery.objects.update(state=DeliveryState.FAILED, last_error="HTTP 500 from the partner")
    record("partner.secret_rotated", actor="staff:1", target="partner:broker-a", overlap_hours=24)
    version = client.get("/api/v1/cookie-banner").json()["version"]
    for action, granted in (("accept_all", ["analytics", "third_party"]), ("reject_all", [])):
        client.post(
            "/api/v1/cookie-choices",
            {"action": action, "source": "banner", "granted": granted, "version": version},
            content_type="application/json",
        )
    client.cookies.clear()
    return request


def home(client, user) -> str:
    sign_in(client, user)
    page = client.get("/console/")
    assert page.status_code == 200
    return page.content.decode()


def section(html: str, key: str) -> str:
    match = re.search(rf'<section aria-labelledby="work-{key}">(.*?)</section>', html, re.S)
    return match.group(1) if match else ""


@pytest.mark.promise("P21")
def test_support_lands_on_open_messages_and_requests_by_deadline(client, support, busy):
    html = home(client, support)
    work = section(html, "support")
    assert "Open contact messages, oldest first" in work
    assert re.search(r'href="/console/contact/contactmessage/[0-9a-f-]+/change/"', work)
    assert busy.reference in work and 'class="overdue"' in work
    assert section(html, "admin") == "" and section(html, "privacy") == ""
    assert CANARY not in html and "kari@example.com" not in html
    assert 'id="all-menus"' in html  # Django's menus stay, below the work


@pytest.mark.promise("P21")
def test_the_privacy_officer_lands_on_deadlines_tasks_and_rates_over_time(
    client, privacy_officer, busy
):
    html = home(client, privacy_officer)
    work = section(html, "privacy")
    assert "requests past their deadline" in work and busy.reference in work
    assert "Partners&#x27; open rights tasks" in work or "Partners' open rights tasks" in work
    assert "Broker A" in work  # the partner the request was passed on to
    # Charts: an axis of values (percent for the rates) and of dates, and their table.
    assert 'id="chart-cookies"' in work and 'id="chart-consents"' in work
    cookies = re.search(r'<figure class="chart" id="chart-cookies">(.*?)</figure>', work, re.S)
    assert ">100 %<" in cookies.group(1) and ">0 %<" in cookies.group(1)
    today = timezone.localdate()
    assert f">{today.day} {today.strftime('%b')}<" in cookies.group(1)
    assert "<caption>Cookie choices accepting each category</caption>" in cookies.group(1)
    assert ">50 %<" in cookies.group(1)  # one of two choices accepted analytics today
    assert section(html, "admin") == "" and section(html, "support") == ""
    assert CANARY not in html


@pytest.mark.promise("P21")
def test_the_administrator_lands_on_partners_health_the_backlog_and_the_log(
    client, administrator, busy
):
    html = home(client, administrator)
    work = section(html, "admin")
    health = re.search(r'<table id="partners-health">(.*?)</table>', work, re.S).group(1)
    assert "Broker A" in health and "HTTP 500 from the partner" in health
    assert timezone.localdate().strftime("%Y") in health  # the rotation's date
    assert "The worker&#x27;s backlog" in work or "The worker's backlog" in work
    assert "Entries in the tree" in work and 'id="chart-deliveries"' in work
    assert section(html, "support") == "" and section(html, "privacy") == ""


def test_the_first_page_speaks_norwegian_to_a_norwegian(client, administrator, busy):
    sign_in(client, administrator)
    client.post("/console/language/", {"language": "nb", "next": "/console/"})
    html = client.get("/console/").content.decode()
    assert "Partnerne, bakgrunnsprosessen og loggen" in html and "Alle menyer" in html
    today = timezone.localdate()
    months = ["jan", "feb", "mar", "apr", "mai", "jun", "jul", "aug", "sep", "okt", "nov", "des"]
    assert f">{today.day}. {months[today.month - 1]}<" in html  # the date axis, in nb


def test_the_value_axis_has_round_steps():
    assert charts.ceiling(0) == (1, 1)
    assert charts.ceiling(7) == (8, 2)
    assert charts.ceiling(23) == (25, 5)
    assert charts.ceiling(180) == (200, 50)
    drawn = charts.chart(
        "t", "T", [timezone.localdate()] * 3, [charts.Series("a", [1, None, 3])], percent=True
    )
    assert len(drawn["lines"][0]["runs"]) == 2  # broken where there is nothing to measure
    assert [t["label"] for t in drawn["ticks"]] == ["0 %", "25 %", "50 %", "75 %", "100 %"]
