"""tillit's log and a real witness (the reference partner, its own process over HTTP): every
checkpoint co-signed, every rewritten history refused, and the refusal an alarm in the console
and in `tillit audit verify`."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from tillit_partner import note, tree

from tests.processes import ReferencePartner
from tests.test_log import recompute_everything
from tillit.audit import logkey, proofs, sequencer, witnesses
from tillit.audit.models import (
    AuditEvent,
    Checkpoint,
    Cosignature,
    LogAlarm,
    LogHash,
    LogState,
    Witness,
    record,
)
from tillit.audit.verify import verify

pytestmark = [pytest.mark.django_db, pytest.mark.e2e, pytest.mark.promise("P24")]


@pytest.fixture
def partner(tmp_path) -> Iterator[ReferencePartner]:
    """The reference partner, witnessing this log (it knows the log's verifier key)."""
    running = ReferencePartner(
        tmp_path / "partner", extra_env={"PARTNER_WITNESS_LOGS": logkey.load().active.vkey}
    ).start()
    yield running
    running.stop()


@pytest.fixture
def witness(partner) -> Witness:
    state = httpx.get(partner.url + "/witness/state", timeout=10).json()["witness"]
    return Witness.objects.create(
        name=state["name"], url=partner.url + "/witness", vkey=state["vkey"]
    )


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as c:
        yield c


def grow(n: int, tag: str = "event") -> Checkpoint:
    for i in range(n):
        record(f"test.{tag}", actor="tester", target=f"subject:{tag}-{i}")
    sequencer.integrate()
    made = sequencer.sign_checkpoint(force=True)
    assert made is not None
    return made


def cosigned(http: httpx.Client, witness: Witness, checkpoint: Checkpoint) -> None:
    outcome = witnesses.send(http, witness, checkpoint)
    assert outcome.cosigned, outcome.problem


def alarm(kind: str) -> LogAlarm:
    return LogAlarm.objects.get(kind=kind, resolved_at__isnull=True)


def test_each_checkpoint_is_cosigned_and_published_with_it(http, witness, client):
    cosigned(http, witness, grow(3))
    second = grow(4, "more")
    assert witnesses.step(http) == 1
    witness.refresh_from_db()
    assert (witness.size, witness.last_error) == (7, "")
    published = client.get("/log/checkpoint").content.decode()
    verifier = note.CosignatureVerifier.from_vkey(witness.vkey)
    opened = note.open_note(
        published, [note.Verifier.from_vkey(logkey.load().active.vkey), verifier]
    )
    assert set(opened.verified) == {logkey.load().origin, witness.name}
    assert note.Checkpoint.parse(opened.text).size == second.size
    assert Cosignature.objects.count() == 2
    assert verify().ok and verify().cosignatures == 2


def test_the_receipt_carries_the_witnessed_checkpoint(http, witness):
    record("subject.registered", actor="visitor", target="subject:kari", receipt_id="r")
    checkpoint = grow(2)
    cosigned(http, witness, checkpoint)
    section = proofs.receipt_section("subject:kari")
    assert section["status"] == proofs.IN_LOG
    assert witness.name in {w["name"] for w in section["witnesses"]}
    assert section["checkpoint"].count("— ") == 2  # the log's signature and the witness's


def test_a_witness_ahead_of_a_stale_checkpoint_is_no_rollback(http, witness):
    """Two workers: one sends an older checkpoint after the other got a newer one co-signed."""
    stale = grow(3)
    cosigned(http, witness, stale)
    cosigned(http, witness, grow(4, "newer"))
    outcome = witnesses.send(http, witness, stale)
    assert not LogAlarm.objects.exists()
    assert outcome.problem in ("", "ahead of this checkpoint") or outcome.cosigned


def test_a_rollback_to_an_older_backup_is_refused_and_raises_an_alarm(http, witness):
    backup = grow(5)
    cosigned(http, witness, backup)
    cosigned(http, witness, grow(3, "after-backup"))
    _restore(backup)  # the database as the backup had it, witness.size included
    outcome = witnesses.send(http, witness, Checkpoint.objects.get(pk=backup.pk))
    assert outcome.alarm == LogAlarm.Kind.ROLLBACK
    assert "rolled back" in alarm(LogAlarm.Kind.ROLLBACK).detail
    assert verify().ok is False and "alarm is open" in verify().problem


def test_a_rollback_that_grew_again_is_a_fork(http, witness):
    backup = grow(5)
    cosigned(http, witness, backup)
    cosigned(http, witness, grow(3, "after-backup"))
    _restore(backup)
    regrown = grow(3, "other-history")  # the same size as the witness's, another tree
    assert witnesses.send(http, witness, regrown).alarm == LogAlarm.Kind.FORK


def test_audit_verify_asks_the_witnesses_and_fails_on_a_rollback(http, witness, capsys):
    backup = grow(5)
    cosigned(http, witness, backup)
    cosigned(http, witness, grow(3, "after-backup"))
    _restore(backup)
    assert verify().ok  # on its own, the restored database is consistent
    with pytest.raises(CommandError, match="rolled back"):
        call_command("audit", "verify")


def test_a_rewritten_history_signed_with_the_stolen_key_is_refused(http, witness):
    """Whoever holds the database and the signing key rewrites an entry and re-signs: only a
    witness can tell."""
    first = grow(6)
    cosigned(http, witness, first)
    AuditEvent.objects.filter(leaf_index=2).update(actor="someone-else")
    _rebuild_and_resign()
    rewritten = grow(2, "later")
    assert witnesses.send(http, witness, rewritten).alarm == LogAlarm.Kind.FORK
    assert "does not extend" in alarm(LogAlarm.Kind.FORK).detail


def test_a_split_view_of_the_same_size_is_refused(http, witness):
    honest = grow(4)
    cosigned(http, witness, honest)
    other = tree.node_hash(b"\x07" * 32, b"\x08" * 32)
    body = note.Checkpoint(logkey.load().origin, 4, other)
    forged = Checkpoint.objects.create(
        size=4, root=other.hex(), note=note.sign_note(body.text(), logkey.load().active)
    )
    assert witnesses.send(http, witness, forged).alarm == LogAlarm.Kind.FORK


def test_a_checkpoint_signed_with_another_key_is_refused(http, witness):
    cosigned(http, witness, grow(2))
    stranger = note.Signer.generate(logkey.load().origin)
    state = LogState.objects.get()
    body = note.Checkpoint(state.origin, state.size, bytes.fromhex(state.root))
    forged = Checkpoint.objects.create(
        size=state.size, root=state.root, note=note.sign_note(body.text(), stranger)
    )
    assert witnesses.send(http, witness, forged).alarm == LogAlarm.Kind.REFUSED


def test_truncated_entries_are_refused(http, witness):
    cosigned(http, witness, grow(6))
    AuditEvent.objects.filter(leaf_index__gte=4).delete()
    LogHash.objects.filter(id__gte=tree.stored_count(4)).delete()
    LogState.objects.update(size=4, root=tree.root(4, proofs.read_hashes).hex())
    Cosignature.objects.all().delete()
    Checkpoint.objects.filter(size__gt=4).delete()
    truncated = sequencer.sign_checkpoint(force=True) or grow(0)
    assert witnesses.send(http, witness, truncated).alarm == LogAlarm.Kind.ROLLBACK


def test_an_unreachable_witness_is_asked_again_later_and_raises_no_alarm(http, db):
    gone = Witness.objects.create(
        name="witness.gone.example",
        url="http://127.0.0.1:9/witness",
        vkey=note.Cosigner.generate("witness.gone.example").vkey,
    )
    checkpoint = grow(2)
    outcome = witnesses.send(http, gone, checkpoint)
    assert not outcome.cosigned and outcome.alarm == "" and "unreachable" in outcome.problem
    assert not LogAlarm.objects.exists()
    gone.refresh_from_db()
    assert gone.last_error.startswith("unreachable")


def test_the_console_shows_the_log_and_its_alarm(http, witness, client, privacy_officer):
    from tests.conftest import sign_in

    backup = grow(3)
    cosigned(http, witness, backup)
    cosigned(http, witness, grow(2, "x"))
    _restore(backup)
    witnesses.send(http, witness, Checkpoint.objects.get(pk=backup.pk))
    sign_in(client, privacy_officer)
    page = client.get("/console/audit-verify/").content.decode()
    assert "Alarm: rolled back" in page and witness.name in page
    open_alarm = LogAlarm.objects.get()
    client.post("/console/audit-verify/", {"resolve": open_alarm.pk})  # no reason: refused
    open_alarm.refresh_from_db()
    assert open_alarm.resolved_at is None
    client.post("/console/audit-verify/", {"resolve": open_alarm.pk, "reason": "restored backup"})
    open_alarm.refresh_from_db()
    assert open_alarm.resolved_by == f"staff:{privacy_officer.pk}"
    assert AuditEvent.objects.filter(action="log.alarm_resolved").exists()


def _restore(backup: Checkpoint) -> None:
    """The database as it was when `backup` was the latest checkpoint (what a restore from an
    older backup does): later entries, hashes, checkpoints and cosignatures gone."""
    AuditEvent.objects.filter(leaf_index__gte=backup.size).delete()
    AuditEvent.objects.filter(leaf_index__isnull=True).delete()
    LogHash.objects.filter(id__gte=tree.stored_count(backup.size)).delete()
    LogState.objects.update(size=backup.size, root=backup.root)
    Cosignature.objects.filter(checkpoint__id__gt=backup.id).delete()
    Checkpoint.objects.filter(id__gt=backup.id).delete()
    Witness.objects.update(size=backup.size)


def _rebuild_and_resign() -> None:
    """The tree recomputed from changed entries, and the old checkpoints thrown away: the next
    one is signed with the (stolen) key over the rewritten tree."""
    recompute_everything()
    Cosignature.objects.all().delete()
    Checkpoint.objects.all().delete()
