"""The consent log: appends without a shared lock, integration, checkpoints, proofs over HTTP,
and every way to cheat that `tillit audit verify` must catch (witnesses: test_log_witness.py)."""

from __future__ import annotations

import base64
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from tillit_partner import note, tree

from tillit.audit import logkey, proofs, sequencer
from tillit.audit.models import AuditEvent, Checkpoint, LogHash, LogKey, LogState, record
from tillit.audit.verify import verify

pytestmark = [pytest.mark.django_db, pytest.mark.promise("P24")]


def events(n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        record("test.event", actor="tester", target=f"subject:{i}", n=i)


def integrated(n: int = 7) -> Checkpoint:
    events(n)
    sequencer.integrate()
    made = sequencer.sign_checkpoint(force=True)
    assert made is not None
    return made


def problem() -> str:
    verdict = verify()
    assert not verdict.ok
    return verdict.problem


def test_appending_an_event_is_one_insert(django_assert_num_queries):
    with django_assert_num_queries(1) as queries:
        record("test.event", actor="tester", target="subject:1")
    assert queries.captured_queries[0]["sql"].startswith("INSERT")


def test_events_wait_until_the_sequencer_gives_them_places():
    events(3)
    assert AuditEvent.objects.filter(leaf_index__isnull=True).count() == 3
    done = sequencer.integrate()
    assert (done.entries, done.size) == (3, 3)
    assert list(AuditEvent.objects.values_list("leaf_index", flat=True)) == [0, 1, 2]
    assert LogHash.objects.count() == tree.stored_count(3)
    assert sequencer.integrate().entries == 0  # none integrated twice


def test_the_stored_tree_is_the_rfc_9162_tree_of_the_entries():
    events(11)
    sequencer.integrate(batch=4)  # three batches
    leaves = [tree.leaf_hash(e.entry()) for e in AuditEvent.objects.order_by("leaf_index")]
    memory = tree.MemoryStore()
    memory.add(leaves)
    assert LogState.objects.get().root == tree.root(11, memory.read).hex()
    stored = [bytes(h) for h in LogHash.objects.order_by("id").values_list("hash", flat=True)]
    assert stored == memory.hashes


def test_a_crash_during_integration_loses_nothing_and_integrates_nothing_twice(monkeypatch):
    events(2)
    sequencer.integrate()
    events(5, start=10)
    written = []

    def crash(*args, **kwargs):
        written.append(AuditEvent.objects.filter(leaf_index__isnull=False).count())
        raise RuntimeError("the process died here")

    # After the hashes and the places are written, before the state moves on: the last step.
    monkeypatch.setattr(LogState, "save", crash)
    with pytest.raises(RuntimeError):
        sequencer.integrate()
    assert written == [7]  # the batch was written when the process died...
    assert AuditEvent.objects.filter(leaf_index__isnull=True).count() == 5  # ...and undone
    assert LogState.objects.get().size == 2
    assert LogHash.objects.count() == tree.stored_count(2)
    monkeypatch.undo()
    assert sequencer.integrate().entries == 5
    assert verify().ok


def test_the_checkpoint_is_a_signed_c2sp_note():
    made = integrated(5)
    keys = logkey.load()
    opened = note.open_note(made.note, [note.Verifier.from_vkey(keys.active.vkey)])
    body = note.Checkpoint.parse(opened.text)
    assert (body.origin, body.size) == ("testserver/consent-log", 5)
    assert body.root.hex() == LogState.objects.get().root
    assert sequencer.sign_checkpoint(force=True) is None  # nothing new to sign


def test_checkpoints_wait_a_moment_when_events_keep_coming(settings):
    settings.LOG_CHECKPOINT_SECONDS = 3600
    integrated(2)
    events(1, start=10)
    assert sequencer.step() == 1
    assert Checkpoint.objects.count() == 1  # the next waits, unless forced
    assert sequencer.sign_checkpoint(force=True).size == 3


def test_the_checkpoint_is_served_with_its_cosignatures(client):
    made = integrated(3)
    answer = client.get("/log/checkpoint")
    assert answer.status_code == 200 and answer["Content-Type"].startswith("text/plain")
    assert answer.content.decode() == made.note


def test_an_inclusion_proof_by_index_or_hash_verifies(client):
    made = integrated(9)
    root = bytes.fromhex(made.root)
    event = AuditEvent.objects.get(leaf_index=4)
    leaf = tree.leaf_hash(event.entry())
    for query in ("leaf_index=4", f"leaf_hash={leaf.hex()}"):
        answer = client.get(f"/log/proof/inclusion?{query}").json()
        assert (answer["leaf_index"], answer["tree_size"]) == (4, 9)
        path = [base64.b64decode(h) for h in answer["inclusion_path"]]
        tree.verify_inclusion(4, 9, leaf, path, root)


def test_a_consistency_proof_verifies(client):
    first = integrated(5)
    events(6, start=100)
    sequencer.integrate()
    second = sequencer.sign_checkpoint(force=True)
    answer = client.get("/log/proof/consistency?first=5&tree_size=11").json()
    path = [base64.b64decode(h) for h in answer["consistency_path"]]
    tree.verify_consistency(5, 11, bytes.fromhex(first.root), bytes.fromhex(second.root), path)


@pytest.mark.parametrize(
    "query",
    [
        "leaf_index=x",
        "leaf_index=\u00b2",
        "tree_size=\u0663&leaf_index=1",
        "leaf_index=-1",
        "leaf_index=1&tree_size=999",
        "leaf_hash=nothex",
        "leaf_hash=" + "ab" * 31,
    ],
)
def test_a_bad_proof_query_gets_a_clear_answer(client, query):
    integrated(3)
    answer = client.get(f"/log/proof/inclusion?{query}")
    assert answer.status_code == 400 and answer.json()["error"]


def test_an_entry_not_in_the_log_is_not_found(client):
    integrated(3)
    answer = client.get("/log/proof/inclusion?leaf_hash=" + "ab" * 32)
    assert answer.status_code == 404
    assert client.get("/log/proof/inclusion?leaf_index=3").status_code == 404


def test_the_well_known_document_names_the_key(client):
    integrated(1)
    answer = client.get("/.well-known/tillit-log.json").json()
    assert answer["origin"] == "testserver/consent-log"
    assert [k["vkey"] for k in answer["verifier_keys"]] == [logkey.load().active.vkey]


def test_an_intact_log_verifies(capsys):
    integrated(6)
    events(2, start=50)  # waiting ones are checked too
    verdict = verify()
    assert verdict.ok and (verdict.events, verdict.waiting, verdict.checkpoints) == (6, 2, 1)
    call_command("audit", "verify")
    assert "6 events in the tree, 2 waiting" in capsys.readouterr().out


# Every way to cheat. Each changes the database as someone with write access to it could.


def test_it_catches_an_edited_event():
    integrated()
    AuditEvent.objects.filter(leaf_index=2).update(target="subject:someone-else")
    assert "entry #2 was changed" in problem()
    with pytest.raises(CommandError, match="entry #2 was changed"):
        call_command("audit", "verify", "--offline")


def test_it_catches_an_edited_event_whose_leaf_hash_was_recomputed():
    integrated()
    event = AuditEvent.objects.get(leaf_index=2)
    event.data = {"n": 999}
    AuditEvent.objects.filter(pk=event.pk).update(
        data=event.data, leaf_hash=event.compute_leaf_hash()
    )
    assert "stored hashes do not match the entries at #2" in problem()


def test_it_catches_a_rewritten_tree_by_the_signed_checkpoint():
    """Entry, leaf hash, stored hashes and state all recomputed: only the signature is left."""
    integrated()
    event = AuditEvent.objects.get(leaf_index=2)
    AuditEvent.objects.filter(pk=event.pk).update(data={"n": 999})
    recompute_everything()
    assert "checkpoint of size 7 has another root" in problem()


def test_it_catches_a_deleted_event():
    integrated()
    AuditEvent.objects.filter(leaf_index=3).delete()
    assert "entry #3 is missing" in problem()


def test_it_catches_reordered_events():
    integrated()
    one, two = AuditEvent.objects.get(leaf_index=1), AuditEvent.objects.get(leaf_index=2)
    AuditEvent.objects.filter(pk=one.pk).update(leaf_index=-1)
    AuditEvent.objects.filter(pk=two.pk).update(leaf_index=1)
    AuditEvent.objects.filter(pk=one.pk).update(leaf_index=2)
    assert "stored hashes do not match the entries at #1" in problem()


def test_it_catches_an_inserted_event():
    integrated()
    AuditEvent.objects.filter(leaf_index__gte=4).update(leaf_index=None)
    # Put the later events back one place further on, and a forged one in the gap.
    for n, event in enumerate(AuditEvent.objects.filter(leaf_index__isnull=True).order_by("seq")):
        AuditEvent.objects.filter(pk=event.pk).update(leaf_index=5 + n)
    forged = record("subject.confirmed", actor="visitor", target="subject:forged")
    AuditEvent.objects.filter(pk=forged.pk).update(leaf_index=4)
    assert "stored hashes do not match the entries at #4" in problem()


def test_it_catches_entries_cut_from_the_end():
    integrated(7)
    AuditEvent.objects.filter(leaf_index__gte=5).delete()
    LogHash.objects.filter(id__gte=tree.stored_count(5)).delete()
    LogState.objects.update(size=5, root=tree.root(5, proofs.read_hashes).hex())
    assert "checkpoint of size 7 is signed, but the log has only 5 entries" in problem()


def test_it_catches_a_checkpoint_signed_with_another_key():
    integrated(4)
    stranger = note.Signer.generate("testserver/consent-log")
    body = note.Checkpoint("testserver/consent-log", 4, bytes.fromhex(LogState.objects.get().root))
    Checkpoint.objects.create(
        size=4, root=body.root.hex(), note=note.sign_note(body.text(), stranger)
    )
    assert "checkpoint 4" in problem() and "not validly signed" in problem()


def test_it_catches_two_checkpoints_of_the_same_size():
    """A split view: the log's own key signed another tree of the same size."""
    integrated(4)
    other = tree.node_hash(b"\x00" * 32, b"\x01" * 32)
    body = note.Checkpoint("testserver/consent-log", 4, other)
    Checkpoint.objects.create(
        size=4, root=other.hex(), note=note.sign_note(body.text(), logkey.load().active)
    )
    assert "checkpoint of size 4 has another root" in problem()


def test_it_catches_a_changed_event_that_is_still_waiting():
    events(2)
    AuditEvent.objects.filter(target="subject:1").update(actor="someone-else")
    assert "waiting to be integrated, was changed" in problem()


def test_a_rotated_key_hands_over_in_one_checkpoint_and_old_ones_still_verify():
    integrated(3)
    old = logkey.load().active
    new = logkey.rotate().active
    events(2, start=10)
    sequencer.integrate()
    handover = sequencer.sign_checkpoint(force=True)
    signers = {s.name + s.key_id.hex() for s in note.parse_note(handover.note).signatures}
    assert signers == {old.name + old.key_id.hex(), new.name + new.key_id.hex()}
    assert logkey.load().previous is None  # the old private key is gone
    assert LogKey.objects.get(vkey=old.vkey).retired_at is not None
    assert verify().ok


def test_the_old_chain_is_gone_and_audit_events_keep_their_columns():
    made = record("partner.added", actor="cli", target="partner:broker-a", note="ok")
    assert json.loads(made.entry())["data"] == {"note": "ok"}


def recompute_everything() -> None:
    """What an attacker with the database but not the signing key can do."""
    for event in AuditEvent.objects.all():
        AuditEvent.objects.filter(pk=event.pk).update(leaf_hash=event.compute_leaf_hash())
    LogHash.objects.all().delete()
    memory = tree.MemoryStore()
    rows = AuditEvent.objects.order_by("leaf_index").values_list("leaf_hash", flat=True)
    memory.add([bytes.fromhex(h) for h in rows])
    LogHash.objects.bulk_create(LogHash(id=i, hash=h) for i, h in enumerate(memory.hashes))
    LogState.objects.update(size=memory.size, root=tree.root(memory.size, memory.read).hex())


def test_old_checkpoints_are_thinned_to_one_an_hour(time_machine):
    time_machine.move_to("2026-11-01T10:00:00Z", tick=False)
    for minute in (5, 20, 50):  # three in one hour
        time_machine.move_to(f"2026-11-01T10:{minute:02d}:00Z", tick=False)
        integrated(1)
    time_machine.move_to("2026-11-03T10:00:00Z", tick=False)
    integrated(1)
    sizes_before = sorted(Checkpoint.objects.values_list("size", flat=True))
    assert sequencer.thin_checkpoints(timezone.now()) == 2
    assert sorted(Checkpoint.objects.values_list("size", flat=True)) == [
        sizes_before[2],
        sizes_before[3],
    ]
    assert verify().ok


def test_a_log_that_grows_while_it_is_verified_is_not_broken(monkeypatch):
    """The worker integrates and signs while `tillit audit verify` reads: what it checks is the
    tree as it was when it began, and what came after is not a fault."""
    from tillit.audit import verify as verifying

    integrated(4)
    events(3, start=20)
    original = verifying._signed_checkpoints

    def meanwhile(origin):
        found = original(origin)
        sequencer.integrate()
        sequencer.sign_checkpoint(force=True)
        return found

    monkeypatch.setattr(verifying, "_signed_checkpoints", meanwhile)
    verdict = verify()
    assert verdict.ok, verdict.problem
    assert verdict.events == 4 and LogState.objects.get().size == 7


def test_an_auditor_gets_the_entries_and_rebuilds_the_signed_root(capsys):
    made = integrated(9)
    call_command("log", "export", "--start", "0")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["leaf_index"] for line in lines] == list(range(9))
    memory = tree.MemoryStore()
    memory.add([tree.leaf_hash(line["entry"].encode()) for line in lines])
    assert tree.root(9, memory.read).hex() == made.root
