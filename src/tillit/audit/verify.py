"""`tillit audit verify`: recompute the whole log and check everything stored against it.

One pass over the entries in tree order, side by side with the stored hashes: each entry's
leaf hash is recomputed from its columns, the tree is rebuilt from those, and every stored hash
and every checkpoint's root must equal what the entries make. Checkpoints must carry a valid
signature by one of the log's keys, cosignatures a valid one by their witness. Because every
checkpoint is compared with one rebuilt tree, they are consistent with each other. Memory stays
flat: the rebuilt tree is only its right edge.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from tillit.audit import entries, logkey, note, tree
from tillit.audit.models import AuditEvent, Checkpoint, Cosignature, LogAlarm, LogHash, LogState

COLUMNS = ("leaf_index", "at", "action", "actor", "target", "data", "leaf_hash")


class Broken(Exception):
    """The first thing found wrong, as a sentence."""


@dataclass(frozen=True)
class Verdict:
    ok: bool
    events: int
    checkpoints: int = 0
    cosignatures: int = 0
    waiting: int = 0
    problem: str = ""


class _Count:
    events = checkpoints = cosignatures = waiting = 0


def verify(batch: int = 5000) -> Verdict:
    count = _Count()
    try:
        _verify(count, batch)
    except Broken as problem:
        return Verdict(
            False, count.events, count.checkpoints, count.cosignatures, problem=str(problem)
        )
    return Verdict(True, count.events, count.checkpoints, count.cosignatures, count.waiting)


def _verify(count: _Count, batch: int) -> None:
    current = LogState.objects.filter(pk=1).first()
    origin = current.origin if current else logkey.load().origin
    checkpoints = _signed_checkpoints(origin)
    count.checkpoints = len(checkpoints)
    size, root = _rebuild(checkpoints, count, batch)
    if current is not None and (current.size, current.root) != (size, root.hex()):
        raise Broken(f"the log's state says {current.size} entries, but the entries make {size}")
    beyond = [s for s, _ in checkpoints if s > size]
    if beyond:
        raise Broken(
            f"a checkpoint of size {max(beyond)} is signed, but the log has only {size} "
            "entries: entries were cut from its end"
        )
    count.waiting = _check_waiting(batch)
    count.cosignatures = _check_cosignatures()
    alarm = LogAlarm.objects.filter(resolved_at__isnull=True).first()
    if alarm is not None:
        raise Broken(f"an alarm is open: {alarm.detail}")


def _signed_checkpoints(origin: str) -> list[tuple[int, bytes]]:
    """(size, root) of every stored checkpoint, its signature and body checked."""
    verifiers = logkey.verifiers()
    out = []
    for pk, size, root, text in Checkpoint.objects.order_by("size", "id").values_list(
        "id", "size", "root", "note"
    ):
        try:
            body = note.Checkpoint.parse(note.open_note(text, verifiers).text)
        except note.NoteError as error:
            raise Broken(f"checkpoint {size} (#{pk}) is not validly signed: {error}") from None
        if (body.origin, body.size, body.root.hex()) != (origin, size, root):
            raise Broken(f"checkpoint {size} (#{pk}) says something else than its signed note")
        out.append((size, body.root))
    return out


def _rebuild(checkpoints: list[tuple[int, bytes]], count: _Count, batch: int) -> tuple[int, bytes]:
    edge = tree.Frontier()
    pending = iter(checkpoints)
    due = next(pending, None)
    stored = _stored_hashes(batch)
    rows = (
        AuditEvent.objects.filter(leaf_index__isnull=False)
        .order_by("leaf_index")
        .values_list(*COLUMNS)
        .iterator(chunk_size=batch)
    )
    while due is not None and due[0] == 0:
        due = _compare(edge, due, pending)
    for index, at, action, actor, target, data, leaf in rows:
        if index != edge.size:
            raise Broken(f"entry #{edge.size} is missing (the next is #{index})")
        entry = entries.encode(at=at, action=action, actor=actor, target=target, data=data)
        if tree.leaf_hash(entry).hex() != leaf:
            raise Broken(f"entry #{index} was changed after it was written")
        at_hash = tree.stored_count(edge.size)
        for n, made in enumerate(edge.push(bytes.fromhex(leaf))):
            if next(stored, None) != (at_hash + n, made):
                raise Broken(f"the tree's stored hashes do not match the entries at #{index}")
        count.events += 1
        while due is not None and due[0] == edge.size:
            due = _compare(edge, due, pending)
    if next(stored, None) is not None:
        raise Broken(f"the tree stores hashes beyond its {edge.size} entries")
    return edge.size, edge.root()


def _compare(
    edge: tree.Frontier, due: tuple[int, bytes], pending: Iterator[tuple[int, bytes]]
) -> tuple[int, bytes] | None:
    if edge.root() != due[1]:
        raise Broken(f"the signed checkpoint of size {due[0]} has another root than the entries")
    return next(pending, None)


def _stored_hashes(batch: int) -> Iterator[tuple[int, bytes]]:
    rows = LogHash.objects.order_by("id").values_list("id", "hash").iterator(chunk_size=batch)
    return ((i, bytes(h)) for i, h in rows)


def _check_waiting(batch: int) -> int:
    """Events not yet in the tree must still be as written."""
    waiting = 0
    rows = (
        AuditEvent.objects.filter(leaf_index__isnull=True)
        .order_by("seq")
        .values_list("seq", *COLUMNS[1:])
        .iterator(chunk_size=batch)
    )
    for seq, at, action, actor, target, data, leaf in rows:
        entry = entries.encode(at=at, action=action, actor=actor, target=target, data=data)
        if tree.leaf_hash(entry).hex() != leaf:
            raise Broken(f"event {seq}, waiting to be integrated, was changed after it was written")
        waiting += 1
    return waiting


def _check_cosignatures() -> int:
    checked = 0
    for cosig in Cosignature.objects.select_related("witness", "checkpoint"):
        body = note.open_note(cosig.checkpoint.note, logkey.verifiers()).text
        signature = note.Signature.parse(cosig.line)
        verifier = note.CosignatureVerifier.from_vkey(cosig.witness.vkey)
        if verifier.verify(body, signature.signature) != cosig.timestamp:
            raise Broken(
                f"the cosignature of {cosig.witness.name} on checkpoint "
                f"{cosig.checkpoint.size} does not verify"
            )
        checked += 1
    return checked
