import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tillit.audit.models import AuditEvent, AuditHead, record, verify

pytestmark = pytest.mark.django_db


def three_events():
    for n in range(3):
        record("test.event", actor="tester", target=f"subject:{n}", n=n)


@pytest.mark.promise("P24")
def test_an_intact_chain_verifies(capsys):
    three_events()
    assert verify().ok and verify().events == 3
    call_command("audit", "verify")
    assert "3 events" in capsys.readouterr().out


@pytest.mark.promise("P24")
def test_it_detects_an_edited_event():
    three_events()
    AuditEvent.objects.filter(seq=2).update(target="subject:someone-else")
    verdict = verify()
    assert not verdict.ok and "#2 was changed" in verdict.problem
    with pytest.raises(CommandError, match="#2 was changed"):
        call_command("audit", "verify")


@pytest.mark.promise("P24")
def test_it_detects_a_deleted_event():
    three_events()
    AuditEvent.objects.filter(seq=2).delete()
    assert "#2 is missing" in verify().problem


@pytest.mark.promise("P24")
def test_it_detects_reordered_events():
    three_events()
    one, two = AuditEvent.objects.get(seq=1), AuditEvent.objects.get(seq=2)
    # Swap the contents of two events, keeping each row's own hash consistent with itself.
    for event, other in ((one, two), (two, one)):
        AuditEvent.objects.filter(seq=event.seq).update(
            target=other.target,
            data=other.data,
            at=other.at,
            hash=other.hash,
            prev_hash=other.prev_hash,
        )
    assert not verify().ok


@pytest.mark.promise("P24")
def test_it_detects_events_cut_from_the_end():
    three_events()
    AuditEvent.objects.filter(seq=3).delete()
    assert "head says #3" in verify().problem


def test_the_head_follows_the_last_event():
    three_events()
    head = AuditHead.objects.get(pk=1)
    assert head.seq == 3 and head.hash == AuditEvent.objects.get(seq=3).hash
