"""The sandbox in the console (P18, P21): a partner added there starts in testing; its page
shows where it stands, its conformance reports and what keeps it from going live; an
administrator takes it live (by the button, the list's action or the form) only by the rule,
and back to testing at any time; a privacy officer sees it all and changes nothing."""

from __future__ import annotations

import re
from html import unescape

import pytest

from tests.conftest import make_partner, make_report, sign_in
from tillit.audit.models import AuditEvent
from tillit.partners import sandbox
from tillit.partners.models import Partner

pytestmark = pytest.mark.django_db

PARTNERS = "/console/partners/partner/"


def make_testing_partner(**kwargs) -> Partner:
    return make_partner(**{"slug": "sandboxed", "name": "Sandboxed AS", "testing": True, **kwargs})


def page_of(partner: Partner) -> str:
    return f"{PARTNERS}{partner.pk}/change/"


def text(answer) -> str:
    """What the page says: its text without the markup, each run of spaces one space."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", answer.content.decode())).split())


def form_of(partner: Partner, **changed: str) -> dict[str, str]:
    """The partner's form as the browser posts it, with `changed`; a box is ticked by "on"
    and unticked by leaving it out."""
    values = {
        "slug": partner.slug,
        "name": partner.name,
        "privacy_policy_url": partner.privacy_policy_url,
        "endpoint": partner.endpoint,
        "countries": '["NO", "SE"]',
        "weight": "100",
        "dpa_signed_on": "2026-01-01",
        "compliance_attested_on": "2026-01-01",
        "language": "en",
        "rights_api": "on",
        "active": "on",
        "testing": "on",
        "created_at_0": "2026-01-01",
        "created_at_1": "12:00:00",
    }
    values.update(changed)
    return {k: v for k, v in values.items() if v is not None}


@pytest.mark.promise("P18")
def test_a_partner_added_in_the_console_starts_in_testing(client, administrator):
    sign_in(client, administrator)
    add = client.get(PARTNERS + "add/").content.decode()
    assert re.search(r'<input type="checkbox" name="testing"[^>]* checked', add)
    unticked = form_of(Partner(slug="broker-c", name="Broker C",
                               privacy_policy_url="https://broker-c.example.com/privacy",
                               endpoint="https://broker-c.example.com"), testing=None)  # fmt: skip
    refused = client.post(PARTNERS + "add/", unticked)
    assert refused.status_code == 200
    assert "A new partner starts in testing" in text(refused)
    assert not Partner.objects.exists()
    client.post(PARTNERS + "add/", {**unticked, "testing": "on"})
    partner = Partner.objects.get(slug="broker-c")
    assert partner.testing and not Partner.objects.compliant().exists()
    added = AuditEvent.objects.get(action="partner.added")
    assert added.actor == f"staff:{administrator.pk}" and added.data["testing"] is True


@pytest.mark.promise("P18")
def test_the_list_shows_each_partners_state_and_last_report(client, administrator, partner):
    sandboxed = make_testing_partner()
    sandbox.record(sandboxed, make_report(sandboxed.endpoint, "lead-signature"))
    Partner.objects.create(slug="paused", name="Paused AS", endpoint="https://p.example.com",
                           privacy_policy_url="https://p.example.com/p", active=False)  # fmt: skip
    sign_in(client, administrator)
    rows = {
        name: row
        for row in re.findall(r"<tr>.*?</tr>", client.get(PARTNERS).content.decode(), re.S)
        for name in ("Broker A", "Sandboxed AS", "Paused AS")
        if name in row
    }
    assert '<td class="field-state">live</td>' in rows["Broker A"]
    assert '<td class="field-state">testing</td>' in rows["Sandboxed AS"]
    assert '<td class="field-state">paused</td>' in rows["Paused AS"]
    assert "failed 20" in rows["Sandboxed AS"] and 'field-last_check">-<' in rows["Broker A"]


@pytest.mark.promise("P18")
def test_the_partners_page_shows_its_state_reports_and_blockers(client, administrator):
    partner = make_testing_partner(compliance_attested_on=None)
    sign_in(client, administrator)
    page = text(client.get(page_of(partner)))
    assert "State: testing" in page
    assert "There is no conformance report yet" in page
    assert "No GDPR compliance attestation is on record" in page
    sandbox.record(partner, make_report(partner.endpoint, "lead-signature"))
    answer = client.get(page_of(partner))
    page = text(answer)
    assert "failed these checks: lead-signature (The lead-signature check)" in page
    assert "Endpoint checked: http://127.0.0.1:9" in page
    assert "2 passed, 1 failed, 1 skipped" in page
    html = unescape(answer.content.decode())
    failures = html.split('class="conformance-failures"')[1].split("</table>")[0]
    # What was sent, what came back and what was required, readable, for the failed check only.
    assert "lead-signature" in failures and "lead-accepted" not in failures
    assert '"status": 500' in failures and "201 with a signed receipt" in failures
    assert '"name": "Test Person"' in failures
    assert 'value="Go live"' in html


@pytest.mark.promise("P18")
def test_an_administrator_goes_live_only_once_nothing_keeps_the_partner_from_it(
    client, administrator
):
    partner = make_testing_partner()
    sign_in(client, administrator)
    refused = client.post(page_of(partner).replace("change/", "go-live/"), follow=True)
    assert "Sandboxed AS stays in testing: There is no conformance report yet" in text(refused)
    partner.refresh_from_db()
    assert partner.testing
    sandbox.record(partner, make_report(partner.endpoint))
    went = client.post(page_of(partner).replace("change/", "go-live/"), follow=True)
    assert went.redirect_chain[-1][0] == page_of(partner)
    assert "Sandboxed AS: live, it receives leads" in text(went)
    partner.refresh_from_db()
    assert not partner.testing and Partner.objects.compliant().get() == partner
    assert "State: live" in text(went) and 'value="Back to testing"' in went.content.decode()
    back = client.post(PARTNERS, {"action": "back_to_testing", "_selected_action": [partner.pk]},
                       follow=True)  # fmt: skip
    assert "Sandboxed AS: in testing, nobody new is assigned to it" in text(back)
    assert not Partner.objects.compliant().exists()
    # The list's action goes by the same rule: after a failed report, no.
    sandbox.record(partner, make_report(partner.endpoint, "receipt-purpose"))
    refused = client.post(PARTNERS, {"action": "go_live", "_selected_action": [partner.pk]},
                          follow=True)  # fmt: skip
    assert "stays in testing: The last conformance report" in text(refused)
    assert not Partner.objects.compliant().exists()
    events = AuditEvent.objects.filter(target="partner:sandboxed").order_by("seq")
    assert [(e.action, e.actor) for e in events if e.action != "partner.conformance_checked"] == [
        ("partner.went_live", f"staff:{administrator.pk}"),
        ("partner.to_testing", f"staff:{administrator.pk}"),
    ]


@pytest.mark.promise("P18")
def test_unticking_testing_in_the_form_is_held_to_the_same_rule(client, administrator):
    partner = make_testing_partner()
    sandbox.record(partner, make_report(partner.endpoint))
    sign_in(client, administrator)
    # Going live with a new endpoint: the report was for the old one.
    new = "https://new.sandboxed.example.com"
    refused = client.post(page_of(partner), form_of(partner, testing=None, endpoint=new))
    assert refused.status_code == 200
    assert "The last conformance report checked http://127.0.0.1:9, not the partner's" in text(
        refused
    )
    refused = client.post(page_of(partner), form_of(partner, testing=None, dpa_signed_on=""))
    assert "No data processing agreement is on record" in text(refused)
    partner.refresh_from_db()
    assert partner.testing and partner.endpoint == "http://127.0.0.1:9"
    # The form's other changes are saved with it, and going live is audited as the button's.
    saved = client.post(page_of(partner), form_of(partner, testing=None, weight="50"))
    assert saved.status_code == 302, text(saved)[:3000]
    partner.refresh_from_db()
    assert not partner.testing and partner.active and partner.weight == 50
    actions = list(
        AuditEvent.objects.filter(target="partner:sandboxed")
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions[-2:] == ["partner.changed", "partner.went_live"]
    # Back to testing through the form: allowed at any time, and audited.
    client.post(page_of(partner), form_of(partner, weight="50"))
    partner.refresh_from_db()
    assert partner.testing
    assert AuditEvent.objects.filter(action="partner.to_testing").count() == 1


@pytest.mark.promise("P18")
def test_resuming_a_partner_in_testing_does_not_make_it_live(client, administrator):
    partner = make_testing_partner(active=False)
    sign_in(client, administrator)
    page = client.post(PARTNERS, {"action": "resume", "_selected_action": [partner.pk]},
                       follow=True)  # fmt: skip
    assert "it receives no leads until it goes live" in text(page)
    assert not Partner.objects.compliant().exists()


@pytest.mark.promise("P21")
def test_a_privacy_officer_sees_the_reports_but_cannot_take_a_partner_live(client, privacy_officer):
    partner = make_testing_partner()
    sandbox.record(partner, make_report(partner.endpoint))
    sign_in(client, privacy_officer)
    answer = client.get(page_of(partner))
    assert "State: testing" in text(answer) and "Nothing keeps it from going live." in text(answer)
    assert 'value="Go live"' not in answer.content.decode()
    assert "go-live/" not in answer.content.decode()
    assert client.post(page_of(partner).replace("change/", "go-live/")).status_code == 403
    refused = client.post(PARTNERS, {"action": "go_live", "_selected_action": [partner.pk]})
    assert refused.status_code == 403
    assert client.post(page_of(partner), form_of(partner, testing=None)).status_code == 403
    partner.refresh_from_db()
    assert partner.testing
    denied = AuditEvent.objects.filter(action="console.denied", actor=f"staff:{privacy_officer.pk}")
    assert denied.count() == 3
    assert not AuditEvent.objects.filter(action="partner.went_live").exists()


@pytest.mark.promise("P21")
def test_support_cannot_see_a_partner_or_take_it_live(client, support):
    partner = make_testing_partner()
    sandbox.record(partner, make_report(partner.endpoint))
    sign_in(client, support)
    assert client.get(page_of(partner)).status_code == 403
    assert client.post(page_of(partner).replace("change/", "go-live/")).status_code == 403
    partner.refresh_from_db()
    assert partner.testing


def test_the_buttons_take_only_a_post(client, administrator):
    partner = make_testing_partner()
    sign_in(client, administrator)
    assert client.get(page_of(partner).replace("change/", "go-live/")).status_code == 405


@pytest.mark.promise("P18")
def test_the_first_page_says_a_partner_in_testing_receives_no_leads(client, administrator):
    make_testing_partner()
    sign_in(client, administrator)
    health = re.search(
        r'<table id="partners-health">(.*?)</table>', client.get("/console/").content.decode(), re.S
    ).group(1)
    assert " ".join(re.sub(r"<[^>]+>", " ", health).split()).count("no (in testing)") == 1


@pytest.mark.e2e
@pytest.mark.promise("P18")
@pytest.mark.django_db(transaction=True)
def test_the_console_runs_the_conformance_suite_and_the_partner_goes_live_on_its_report(
    client, administrator, tmp_path
):
    """The operator's whole way from the console: a partner in testing, *Run the conformance
    suite*, the worker runs it against the partner (a real reference partner process), the
    report on the partner's page, then *Go live*."""
    from tests.processes import reference_partner
    from tests.rights_helpers import drain_tasks

    with reference_partner(tmp_path / "partner") as ref:
        partner = make_testing_partner(endpoint=ref.url, secret=ref.secret)
        sign_in(client, administrator)
        page = client.get(page_of(partner))
        assert 'value="Run the conformance suite"' in page.content.decode()
        asked = client.post(page_of(partner).replace("change/", "conformance/"), follow=True)
        assert "the conformance suite runs in the background" in text(asked)
        assert not partner.checks.exists()
        drain_tasks()
    (kept,) = partner.checks.all()
    assert kept.passed, kept.report
    shown = text(client.get(page_of(partner)))
    assert f"Endpoint checked: {ref.url}" in shown and "Nothing keeps it from going live." in shown
    assert client.post(page_of(partner).replace("change/", "go-live/")).status_code == 302
    partner.refresh_from_db()
    assert not partner.testing and partner.active
    actions = [e.action for e in AuditEvent.objects.filter(target="partner:sandboxed")]
    assert actions[:2] == ["partner.conformance_requested", "partner.conformance_checked"]


@pytest.mark.promise("P21")
def test_a_privacy_officer_cannot_run_the_conformance_suite(client, privacy_officer):
    partner = make_testing_partner()
    sign_in(client, privacy_officer)
    assert client.post(page_of(partner).replace("change/", "conformance/")).status_code == 403
    assert not AuditEvent.objects.filter(action="partner.conformance_requested").exists()
