"""The administrator's and privacy officer's tools in the console: pausing and resuming a
partner, checking it (health, signed discovery, agreements), rotating its secret, and
verifying the audit chain from the console."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from tests.conftest import make_partner, sign_in
from tillit.audit import sequencer
from tillit.audit.models import AuditEvent
from tillit.partners.models import Partner
from tillit.vault.models import Envelope

pytestmark = pytest.mark.django_db

PARTNERS = "/console/partners/partner/"


def act(client, action: str, partner: Partner, **extra: str):
    return client.post(
        PARTNERS, {"action": action, "_selected_action": [str(partner.pk)], **extra}, follow=True
    )


@pytest.mark.promise("P18")
def test_an_administrator_pauses_and_resumes_a_partner(client, administrator, partner):
    sign_in(client, administrator)
    act(client, "pause", partner)
    partner.refresh_from_db()
    assert not partner.active
    assert not Partner.objects.compliant().exists()  # a paused partner receives nothing
    act(client, "resume", partner)
    partner.refresh_from_db()
    assert partner.active
    actions = list(
        AuditEvent.objects.filter(target="partner:broker-a")
        .order_by("seq")
        .values_list("action", "actor")
    )
    assert actions[-2:] == [
        ("partner.disabled", f"staff:{administrator.pk}"),
        ("partner.enabled", f"staff:{administrator.pk}"),
    ]


@pytest.mark.promise("P21")
def test_a_privacy_officer_may_check_a_partner_but_not_pause_it(client, privacy_officer, partner):
    sign_in(client, privacy_officer)
    checked = act(client, "check_partner", partner).content.decode()
    assert "not reachable" in checked  # nothing listens at this partner's endpoint
    assert "DPA signed 2026-01-01" in checked
    refused = client.post(PARTNERS, {"action": "pause", "_selected_action": [str(partner.pk)]})
    assert refused.status_code == 403
    partner.refresh_from_db()
    assert partner.active


@pytest.mark.promise("P18")
def test_the_check_reads_the_reference_partners_signed_discovery(client, administrator, tmp_path):
    from tests.processes import reference_partner

    with reference_partner(tmp_path / "partner") as ref:
        partner = make_partner(endpoint=ref.url, secret=ref.secret)
        sign_in(client, administrator)
        page = act(client, "check_partner", partner).content.decode()
        assert "/healthz answered 200" in page and "signed discovery OK" in page
        # A wrong secret on our side: the partner's signature no longer checks out.
        partner.set_secret("not-the-shared-secret")
        page = act(client, "check_partner", partner).content.decode()
        assert "discovery failed" in page


@pytest.mark.promise("P18")
def test_a_partner_added_in_the_console_gets_a_secret_shown_once(client, administrator):
    sign_in(client, administrator)
    page = client.post(
        PARTNERS + "add/",
        {
            "slug": "broker-c",
            "name": "Broker C",
            "privacy_policy_url": "https://broker-c.example.com/privacy",
            "endpoint": "https://broker-c.example.com/tillit",
            "countries": '["NO"]',
            "weight": "100",
            "dpa_signed_on": "2026-01-01",
            "compliance_attested_on": "2026-01-01",
            "privacy_email": "privacy@broker-c.example.com",
            "language": "en",
            "created_at_0": "2026-01-01",
            "created_at_1": "12:00:00",
            "active": "on",
            "testing": "on",  # as the browser posts its default
        },
    )
    assert page.status_code == 200, page.content.decode()[:2000]
    assert "no-store" in page["Cache-Control"]
    shown = re.search(r"<code>([A-Za-z0-9_-]{40,})</code>", page.content.decode()).group(1)
    partner = Partner.objects.get(slug="broker-c")
    assert partner.secrets() == [shown.encode()]
    assert partner.testing  # it receives nothing until it goes live (tests/test_console_sandbox)
    Partner.objects.filter(pk=partner.pk).update(testing=False)
    assert Partner.objects.compliant().filter(pk=partner.pk).exists()
    # A partner with no secret (added before this) receives nothing.
    Partner.objects.filter(pk=partner.pk).update(secret_envelope=None)
    assert not Partner.objects.compliant().filter(pk=partner.pk).exists()


@pytest.mark.promise("P18")
def test_rotating_a_secret_shows_it_once_and_the_old_one_stops_working(
    client, administrator, partner
):
    old = partner.secret()
    old_envelope = partner.secret_envelope_id
    sign_in(client, administrator)
    confirm = act(client, "rotate_secret", partner).content.decode()
    assert '<option value="24" selected>24 hours</option>' in confirm
    assert partner.secret() == old  # nothing happens before the confirmation
    # After a leak: no overlap, the old secret is shredded at once.
    page = act(client, "rotate_secret", partner, confirm="1", overlap_hours="0")
    shown = re.search(r"<code>([A-Za-z0-9_-]{40,})</code>", page.content.decode()).group(1)
    assert "no-store" in page["Cache-Control"]
    assert "the old secret is shredded" in page.content.decode()
    partner.refresh_from_db()
    assert partner.secrets() == [shown.encode()] and shown.encode() != old
    assert not Envelope.objects.filter(id=old_envelope).exists()
    assert AuditEvent.objects.filter(action="partner.secret_rotated").count() == 1


@pytest.mark.promise("P18")
def test_a_rotated_out_secret_stays_good_for_the_overlap_then_is_shredded(
    client, administrator, partner
):
    from tillit.worker.retention import run_all

    old = partner.secret()
    sign_in(client, administrator)
    page = act(client, "rotate_secret", partner, confirm="1", overlap_hours="24").content.decode()
    assert "the old secret stays good until" in page
    partner.refresh_from_db()
    new = partner.secret()
    assert partner.secrets() == [new, old]
    previous = partner.previous_secret_envelope_id
    # A day and a bit later the worker's retention sweep shreds it.
    later = timezone.now() + dt.timedelta(hours=24, minutes=1)
    assert partner.secrets(later) == [new]
    assert run_all(later)["forget_old_secrets"] == 1
    partner.refresh_from_db()
    assert partner.secrets() == [new] and partner.previous_secret_envelope_id is None
    assert not Envelope.objects.filter(id=previous).exists()
    assert AuditEvent.objects.filter(action="partner.old_secret_shredded").count() == 1
    # A choice the form does not offer changes nothing.
    act(client, "rotate_secret", partner, confirm="1", overlap_hours="100000")
    partner.refresh_from_db()
    assert partner.secrets() == [new]


@pytest.mark.promise("P21")
def test_the_audit_chain_is_verified_from_the_console(client, privacy_officer):
    sign_in(client, privacy_officer)
    index = client.get("/console/").content.decode()
    assert "/console/audit-verify/" in index
    intact = client.post("/console/audit-verify/").content.decode()
    assert "Intact:" in intact
    sequencer.integrate()
    AuditEvent.objects.filter(leaf_index=0).update(action="nothing.happened")
    broken = client.post("/console/audit-verify/").content.decode()
    assert "Broken" in broken and "entry #0 was changed" in broken
    verdicts = AuditEvent.objects.filter(action="audit.verified").values_list("actor", flat=True)
    assert list(verdicts) == [f"staff:{privacy_officer.pk}"] * 2


@pytest.mark.promise("P21")
def test_support_cannot_verify_or_see_the_audit_log(client, support):
    sign_in(client, support)
    assert client.get("/console/audit-verify/").status_code == 403
    assert "/console/audit-verify/" not in client.get("/console/").content.decode()


@pytest.mark.promise("P21")
@pytest.mark.django_db(transaction=True)
def test_the_dashboard_charts_the_flow_with_counts_only(client, privacy_officer, support):
    from tests.rights_helpers import drain_tasks
    from tillit.subjects.models import Subject

    make_partner()
    visitor = {
        "name": "Dash Board",
        "email": "dash@example.com",
        "phone": "",
        "country": "NO",
        "consent_partner": "on",
    }
    client.post("/", visitor)
    client.post("/", {**visitor, "email": "board@example.com", "consent_offers": "on"})
    drain_tasks()
    assert Subject.objects.count() == 2
    sign_in(client, support)
    assert client.get("/console/dashboard/").status_code == 403
    client.logout()
    sign_in(client, privacy_officer)
    assert "/console/dashboard/" in client.get("/console/").content.decode()
    page = client.get("/console/dashboard/?days=7").content.decode()
    assert "<strong>Sign-ups</strong> (2 in all)" in page
    assert page.count("<rect ") == 5 * 7  # five charts, a bar per day
    # Each has a value axis, a date axis (today is labelled) and its table.
    today = timezone.localdate()
    assert page.count(f">{today.day} {today.strftime('%b')}</text>") == 5
    assert page.count('<details class="chart-table">') == 5
    assert "<caption>Sign-ups</caption>" in page
    assert "<td>Notifications of time-limited offers</td><td>1</td><td>50%</td>" in page
    assert "dash@example.com" not in page and "Dash Board" not in page


def test_a_norwegian_privacy_officer_reads_the_console_in_norwegian(client, privacy_officer):
    """Menus, page titles, tables and the console's own pages follow the staff member's
    language; the English console reads as the tests above show."""
    from tillit.console.models import StaffProfile

    StaffProfile.objects.create(user=privacy_officer, language="nb")
    sign_in(client, privacy_officer)
    index = client.get("/console/").content.decode()
    assert "Forespørsler om rettigheter" in index and "Utleveringssaker" in index
    dashboard = client.get("/console/dashboard/?days=7").content.decode()
    assert "<strong>Registreringer</strong> (0 totalt)" in dashboard
    assert "Forespørsler om rettigheter målt mot fristene" in dashboard
    rates = client.get("/console/cookie-consent/").content.decode()
    assert "0 valg de siste 30 dagene." in rates and "Bare samletall" in rates
    log = client.get("/console/audit-verify/").content.decode()
    assert "<title>Samtykkeloggen" in log and 'value="Verifiser nå"' in log
    verified = client.post("/console/audit-verify/").content.decode()
    assert "Intakt:" in verified
    queue = client.get("/console/rights/rightsrequest/").content.decode()
    assert "forespørsel om rettigheter" in queue.lower()
    assert "Send a new invitation" not in index and "Rights requests" not in dashboard
