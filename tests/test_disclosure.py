"""Disclosure cases (P20, P22, P23): a request from an authority or a third party is
registered, weighed in writing, decided, the person told first unless a legal prohibition is
recorded, and only tillit's own pseudonymous records are disclosed. Every step is audited,
out-of-order and stale steps are refused."""

from __future__ import annotations

import json
from unittest import mock

import pytest
from django.test import Client
from django_tasks_db.models import DBTaskResult

from tests.conftest import sign_in
from tests.rights_helpers import drain_tasks, kari
from tillit.audit.models import AuditEvent
from tillit.disclosure.models import DisclosureCase

__all__ = ["kari"]  # a fixture, used by name

pytestmark = pytest.mark.django_db(transaction=True)

CASES = "/console/disclosure/disclosurecase/"
POLICE = {
    "requester_kind": "authority",
    "requester": "Politiet, Oslo politidistrikt",
    "legal_basis": "Straffeprosessloven § 210",
    "scope": "Which partner the person was referred to, and when.",
    "deadline": "2027-01-15",
}


def register(client, **extra: str) -> DisclosureCase:
    answer = client.post(CASES + "add/", {**POLICE, **extra})
    assert answer.status_code == 302, answer.content.decode()[:3000]
    return DisclosureCase.objects.get()


def step(client, case: DisclosureCase, name: str, **fields: str) -> str:
    page = client.post(
        f"{CASES}{case.pk}/change/",
        {"step": name, "version": str(case.version), **fields},
        follow=True,
    )
    case.refresh_from_db()
    return page.content.decode()


@pytest.mark.promise("P20")
def test_a_notice_queued_before_the_notifying_step_existed_is_still_sent(
    client, kari, support, privacy_officer
):
    """Before an upgrade, "Tell the person" moved a case to notified at once and queued the
    notice, which kept itself queued until the partner took it. After the upgrade it goes."""
    from tillit.disclosure.steps import send_notice

    sign_in(client, support)
    case = register(client, email="kari@example.com")
    DisclosureCase.objects.filter(id=case.id).update(step="notified")
    send_notice.enqueue(str(case.id))
    with mock.patch("tillit.disclosure.steps.messages.post", return_value=201) as post:
        drain_tasks()
    assert post.call_count == 1 and post.call_args.args[2]["kind"] == "notice"
    assert DisclosureCase.objects.get(id=case.id).step == "notified"


@pytest.mark.promise("P20")
def test_a_notice_the_partner_cannot_take_is_taken_back_by_the_officer(
    client, kari, support, privacy_officer
):
    import httpx

    sign_in(client, support)
    case = register(client, email="kari@example.com")
    officer = Client()
    sign_in(officer, privacy_officer)
    step(officer, case, "weigh", balancing="A criminal investigation; the scope is narrow.")
    step(officer, case, "decide", decision="disclose", reason="Lawful order, narrow scope.")
    page = step(officer, case, "notify")
    assert case.step == "notifying" and "Take the case back" in page
    failing = mock.patch(
        "tillit.disclosure.steps.messages.post", side_effect=httpx.ConnectError("down")
    )
    with failing:
        drain_tasks()  # the partner is down: the notice waits for its next try
    step(officer, case, "take_back")
    assert case.step == "decided"
    assert AuditEvent.objects.filter(
        action="disclosure.notice_taken_back", target=f"disclosure:{case.pk}"
    ).exists()
    assert "does not come next" in step(officer, case, "disclose")  # still nobody told
    step(officer, case, "withhold", prohibition="Straffeprosessloven § 210a")
    assert case.step == "withheld"


@pytest.mark.promise("P22")
@pytest.mark.promise("P20")
def test_an_authority_request_is_weighed_the_person_told_and_only_own_records_disclosed(
    client, kari, support, privacy_officer
):
    sign_in(client, support)
    case = register(client, email="kari@example.com")  # looked up by blind index, not kept
    assert case.subject_id == kari.id and case.step == "registered"
    assert "kari@example.com" not in json.dumps(list(DisclosureCase.objects.values()), default=str)
    refused = client.post(f"{CASES}{case.pk}/change/", {"step": "weigh", "version": "0"})
    assert refused.status_code == 403  # support registers; the privacy officer decides

    officer = Client()
    sign_in(officer, privacy_officer)
    assert "must be written down" in step(officer, case, "weigh", balancing="  ")
    step(officer, case, "weigh", balancing="A criminal investigation; the scope is narrow.")
    assert "does not come next" in step(officer, case, "disclose")  # not before a decision
    step(officer, case, "decide", decision="disclose", reason="Lawful order, narrow scope.")
    assert "does not come next" in step(officer, case, "disclose")  # not before the notice
    step(officer, case, "notify")
    assert case.step == "notifying"
    notice = DBTaskResult.objects.filter(task_path__endswith="send_notice")
    assert notice.count() == 1  # through the partner, who holds the contact data
    assert "not been told yet" in step(officer, case, "disclose")  # the notice is on its way
    with mock.patch("tillit.disclosure.steps.messages.post", return_value=201):
        drain_tasks()  # the partner takes the notice
    case.refresh_from_db()
    assert case.step == "notified"
    page = step(officer, case, "disclose")
    disclosed = case.disclosed
    assert disclosed["account"]["pseudonymous_id"] == str(kari.id)
    assert {c["purpose"] for c in disclosed["consents"]} == {"referral", "offers"}
    assert [r["partner"] for r in disclosed["referrals"]] == ["Broker A"]
    assert "kari@example.com" not in page and "Kari Nordmann" not in json.dumps(disclosed)
    step(officer, case, "close")
    assert case.step == "closed" and case.closed_at
    trail = list(
        AuditEvent.objects.filter(target=f"disclosure:{case.pk}")
        .exclude(action="disclosure.opened")
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert trail == [
        "disclosure.registered",
        "disclosure.weighed",
        "disclosure.decided_disclose",
        "disclosure.person_notified",
        "disclosure.notice_delivered",
        "disclosure.disclosed",
        "disclosure.closed",
    ]
    assert AuditEvent.objects.filter(action="disclosure.opened").exists()  # every look


@pytest.mark.promise("P22")
def test_a_legal_prohibition_on_telling_the_person_is_recorded_not_assumed(
    client, kari, privacy_officer
):
    sign_in(client, privacy_officer)
    case = register(client, subject_ref=str(kari.id))
    step(client, case, "weigh", balancing="Investigation.")
    step(client, case, "decide", decision="disclose", reason="Court order.")
    assert "must be written down" in step(client, case, "withhold", prohibition="")
    step(client, case, "withhold", prohibition="Straffeprosessloven § 210 c")
    assert case.step == "withheld" and case.prohibition.endswith("210 c")
    step(client, case, "disclose")
    assert case.step == "disclosed"
    assert not DBTaskResult.objects.filter(task_path__endswith="send_notice").exists()


@pytest.mark.promise("P23")
def test_a_third_party_request_can_be_refused_and_closed(client, kari, privacy_officer):
    sign_in(client, privacy_officer)
    case = register(
        client,
        requester_kind="third_party",
        requester="Advokatfirma Eksempel",
        legal_basis="Our client's interest",
        email="kari@example.com",
    )
    step(client, case, "weigh", balancing="No legal basis outweighs the person's interests.")
    step(client, case, "decide", decision="refuse", reason="No legal right to the data.")
    assert "refuse" in step(client, case, "disclose")  # a refusal discloses nothing
    assert case.disclosed is None
    step(client, case, "close")
    assert case.step == "closed"


@pytest.mark.promise("P22")
def test_an_unknown_person_or_a_stale_page_changes_nothing(client, kari, privacy_officer):
    sign_in(client, privacy_officer)
    unknown = client.post(CASES + "add/", {**POLICE, "email": "nobody@example.com"})
    assert unknown.status_code == 200 and "Nobody with that id" in unknown.content.decode()
    assert not DisclosureCase.objects.exists()
    case = register(client, email="kari@example.com")
    colleague = Client()
    sign_in(colleague, privacy_officer)
    stale = DisclosureCase.objects.get(pk=case.pk)
    step(client, case, "weigh", balancing="First.")
    page = step(colleague, stale, "weigh", balancing="Second, from an old page.")
    assert "changed meanwhile" in page
    case.refresh_from_db()
    assert case.balancing == "First."
