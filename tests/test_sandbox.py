"""The sandbox (P18): a partner in testing receives only the conformance suite's traffic, never
a person's lead, and goes live only once its last conformance report passed for its endpoint
and its agreements and signing secret are on record. Every step is audited."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.utils import translation

from tests.conftest import make_partner, make_report
from tests.rights_helpers import kari, requested  # noqa: F401  (a fixture)
from tillit.audit.models import AuditEvent
from tillit.consent import cookies
from tillit.partners import routing, sandbox
from tillit.partners.models import Delivery, Partner, PartnerCheck, PartnerState
from tillit.policy import proof, versions
from tillit.rights.models import PartnerTask
from tillit.subjects.models import Subject

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    """The blockers are read in English, whatever language an earlier test in this process
    left active (none: LANGUAGE_CODE's, nb)."""
    with translation.override("en"):
        yield


def make_testing_partner(**kwargs: Any) -> Partner:
    """A partner in testing, otherwise everything a live one needs (agreements, a secret)."""
    return make_partner(**{"slug": "sandboxed", "name": "Sandboxed AS", "testing": True, **kwargs})


def make_ready_partner(**kwargs: Any) -> Partner:
    """A partner in testing whose last conformance report passed: it may go live."""
    partner = make_testing_partner(**kwargs)
    sandbox.record(partner, make_report(partner.endpoint))
    return partner


@pytest.mark.promise("P18")
def test_partners_made_as_before_are_live_and_a_testing_one_is_not_compliant(partner):
    assert not partner.testing and partner.state == PartnerState.LIVE
    sandboxed = make_testing_partner()
    assert sandboxed.state == PartnerState.TESTING
    assert list(Partner.objects.compliant()) == [partner]
    Partner.objects.filter(pk=partner.pk).update(active=False)
    partner.refresh_from_db()
    assert partner.state == PartnerState.PAUSED


@pytest.mark.promise("P18")
def test_a_testing_partner_is_never_assigned_anyone_however_compliant_and_heavy():
    make_ready_partner(weight=100_000, countries=["NO", "DK"])
    assert routing.assign(uuid.uuid4(), "NO") is None
    assert "DK" not in routing.open_countries() and not routing.serves("DK")
    live = make_partner(weight=1)
    assert all(routing.assign(uuid.uuid4(), "NO") == live for _ in range(50))


@pytest.mark.promise("P18")
def test_a_testing_partner_gets_no_lead_through_the_sign_up_form(client, visitor):
    sandboxed = make_ready_partner(weight=100_000, countries=["NO", "DK"])
    refused = client.post("/", {**visitor, "country": "DK", "phone": ""})
    assert refused.status_code == 400 and "partner" in refused.content.decode()
    assert not Subject.objects.exists()
    live = make_partner(countries=["NO"])
    for n in range(5):
        answer = client.post("/", {**visitor, "email": f"kari{n}@example.com"})
        assert answer.status_code == 302
    assert set(Subject.objects.values_list("partner", flat=True)) == {live.pk}
    assert not Delivery.objects.filter(partner=sandboxed).exists()


@pytest.mark.promise("P18")
@pytest.mark.promise("P19")
def test_visitors_are_never_shown_a_testing_partner(client, partner):
    make_ready_partner(name="Sandboxed AS", embed_url="https://sandboxed.example.com/embed")
    policy = client.get("/en/personvern/").content.decode()
    assert "Broker A" in policy and "Sandboxed AS" not in policy
    assert [r["name"] for r in versions.snapshot()["recipients"]] == ["Broker A"]
    assert "sandboxed.example.com" not in {h["host"] for h in cookies.embed_hosts()}
    assert "sandboxed.example.com" not in client.get("/en/cookies/").content.decode()


# The worker's job loop commits as it goes: on PostgreSQL it needs a real transaction.
@pytest.mark.django_db(transaction=True)
@pytest.mark.promise("P18")
def test_a_rights_request_goes_only_to_partners_that_hold_the_persons_data(client, kari):  # noqa: F811
    make_ready_partner()
    requested(client, "erasure")
    assert list(PartnerTask.objects.values_list("partner__slug", flat=True)) == ["broker-a"]


# The worker's job loop commits as it goes: on PostgreSQL it needs a real transaction.
@pytest.mark.django_db(transaction=True)
@pytest.mark.promise("P18")
def test_a_live_partner_put_back_in_testing_still_hears_of_the_people_it_holds(client, kari):  # noqa: F811
    """Nobody new is assigned to it, but the people it already holds stay its own: Art. 19
    wants their rights requests passed on."""
    sandbox.to_testing(kari.partner, "test")
    assert not Partner.objects.compliant().exists()
    requested(client, "erasure")
    assert PartnerTask.objects.get().partner == kari.partner


@pytest.mark.promise("P18")
def test_a_report_is_kept_with_the_partner_and_audited():
    partner = make_testing_partner()
    check = sandbox.record(partner, make_report(partner.endpoint, "lead-signature"))
    assert check.partner == partner and not check.passed
    assert check.endpoint == partner.endpoint
    assert [f["id"] for f in check.failures()] == ["lead-signature"]
    assert check.counts() == {"pass": 2, "fail": 1, "skip": 1}
    assert partner.last_check() == check
    later = sandbox.record(partner, make_report(partner.endpoint))
    assert partner.last_check() == later and later.passed
    event = AuditEvent.objects.filter(action="partner.conformance_checked").last()
    assert event.target == "partner:sandboxed" and event.data["passed"] is True
    with pytest.raises(ValueError):
        sandbox.record(partner, {"endpoint": partner.endpoint, "results": []})
    partner.delete()  # the reports go with it
    assert not PartnerCheck.objects.exists()


@pytest.mark.promise("P18")
def test_without_a_report_it_cannot_go_live():
    partner = make_testing_partner()
    assert sandbox.go_live_blockers(partner) == [
        "There is no conformance report yet: run the conformance suite against the partner."
    ]
    with pytest.raises(sandbox.CannotGoLive) as refused:
        sandbox.go_live(partner, "test")
    assert refused.value.blockers == sandbox.go_live_blockers(partner)
    partner.refresh_from_db()
    assert partner.testing and not AuditEvent.objects.filter(action="partner.went_live").exists()


@pytest.mark.promise("P18")
def test_a_failed_last_report_names_the_checks_that_failed():
    partner = make_ready_partner()
    sandbox.record(partner, make_report(partner.endpoint, "lead-signature", "receipt-purpose"))
    [blocker] = sandbox.go_live_blockers(partner)
    assert "failed these checks" in blocker
    assert "lead-signature (The lead-signature check)" in blocker
    assert "receipt-purpose (The receipt-purpose check)" in blocker


@pytest.mark.promise("P18")
def test_a_report_for_another_endpoint_does_not_count():
    partner = make_ready_partner()
    Partner.objects.filter(pk=partner.pk).update(endpoint="https://new.sandboxed.example.com")
    partner.refresh_from_db()
    [blocker] = sandbox.go_live_blockers(partner)
    assert "checked http://127.0.0.1:9, not the partner's endpoint" in blocker
    # A trailing slash makes no difference.
    sandbox.record(partner, make_report("https://new.sandboxed.example.com/"))
    assert sandbox.go_live_blockers(partner) == []


@pytest.mark.promise("P18")
@pytest.mark.parametrize(
    ("missing", "said"),
    [
        ({"dpa_signed_on": None}, "No data processing agreement is on record"),
        ({"compliance_attested_on": None}, "No GDPR compliance attestation is on record"),
        ({"secret_envelope": None}, "The partner has no signing secret"),
        ({"endpoint": "http://sandboxed.example.com"}, "The endpoint is not https"),
    ],
)
def test_each_missing_agreement_or_secret_keeps_it_from_going_live(missing, said):
    partner = make_ready_partner()
    sandbox.record(partner, make_report(missing.get("endpoint", partner.endpoint)))
    Partner.objects.filter(pk=partner.pk).update(**missing)
    partner.refresh_from_db()
    [blocker] = sandbox.go_live_blockers(partner)
    assert blocker.startswith(said)
    with pytest.raises(sandbox.CannotGoLive):
        sandbox.go_live(partner, "test")


@pytest.mark.promise("P18")
def test_going_live_makes_it_active_and_assigned_and_back_to_testing_stops_it():
    partner = make_ready_partner()
    Partner.objects.filter(pk=partner.pk).update(active=False)
    assert sandbox.go_live(partner, "staff:7") is True
    partner.refresh_from_db()
    assert partner.state == PartnerState.LIVE
    assert routing.assign(uuid.uuid4(), "NO") == partner
    assert sandbox.go_live(partner, "staff:7") is False  # live already: nothing recorded
    assert sandbox.to_testing(partner, "staff:7") is True
    partner.refresh_from_db()
    assert partner.state == PartnerState.TESTING
    assert routing.assign(uuid.uuid4(), "NO") is None
    assert sandbox.to_testing(partner, "staff:7") is False
    events = AuditEvent.objects.filter(target="partner:sandboxed").order_by("seq")
    assert [(e.action, e.actor) for e in events] == [
        ("partner.conformance_checked", "cli"),
        ("partner.went_live", "staff:7"),
        ("partner.to_testing", "staff:7"),
    ]
    assert events[1].data["check"] == partner.last_check().pk


@pytest.mark.promise("P18")
def test_the_policy_proof_and_the_endpoint_check_leave_testing_partners_out():
    from tillit.ops.checks import partner_endpoints

    make_testing_partner(dpa_signed_on=None, endpoint="http://sandboxed.example.com")
    assert proof.partners() == []
    assert partner_endpoints(None, databases=["default"]) == []
    make_partner(dpa_signed_on=None, endpoint="http://broker-a.example.com")
    assert len(proof.partners()) == 1
    assert [w.id for w in partner_endpoints(None, databases=["default"])] == ["tillit.W030"]
