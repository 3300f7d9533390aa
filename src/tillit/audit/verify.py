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

from tillit_partner import note, tree

from tillit.audit import entries, logkey
from tillit.audit.models import AuditEvent, Checkpoint, Cosignature, LogAlarm, LogHash, LogState

COLUMNS = ("leaf_index", "at", "action", "actor", "target", "data", "nonce", "leaf_hash")


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
    """The tree as the state says it was at the start: entries below that size never change,
    so a sequencer integrating meanwhile does not make a live log look broken."""
    current = LogState.objects.filter(pk=1).first()
    if current is None:
        if AuditEvent.objects.filter(leaf_index__isnull=False).exists() or LogHash.objects.exists():
            raise Broken("the log's state is missing, but it has entries in the tree")
        count.waiting = _check_waiting(batch)
        return
    size = current.size
    checkpoints = _signed_checkpoints(current.origin)
    count.checkpoints = len(checkpoints)
    built, root = _rebuild([c for c in checkpoints if c[0] <= size], count, batch, size)
    if built != size:
        raise Broken(
            f"the log's state says {size} entries, but there are {built}: entries were cut"
        )
    if current.root != root.hex():
        raise Broken(f"the log's state has another root than its {size} entries make")
    _check_beyond(size, max((s for s, _ in checkpoints), default=0))
    count.waiting = _check_waiting(batch)
    count.cosignatures = _check_cosignatures()
    alarm = LogAlarm.objects.filter(resolved_at__isnull=True).first()
    if alarm is not None:
        raise Broken(f"an alarm is open: {alarm.detail}")


def _check_beyond(size: int, largest_checkpoint: int) -> None:
    """What lies past the size verified must be what the sequencer added since."""
    now = LogState.objects.filter(pk=1).values_list("size", flat=True).first() or 0
    if largest_checkpoint > now:
        raise Broken(
            f"a checkpoint of size {largest_checkpoint} is signed, but the log has only {now} "
            "entries: entries were cut from its end"
        )
    stray = AuditEvent.objects.filter(leaf_index__gte=now).values_list("leaf_index", flat=True)
    if stray.exists():
        raise Broken(f"entry #{stray.first()} has a place beyond the tree of {now}")
    if LogHash.objects.filter(id__gte=tree.stored_count(now)).exists():
        raise Broken(f"the tree stores hashes beyond its {now} entries")


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


def _rebuild(
    checkpoints: list[tuple[int, bytes]], count: _Count, batch: int, size: int
) -> tuple[int, bytes]:
    edge = tree.Frontier()
    pending = iter(checkpoints)
    due = next(pending, None)
    stored = _stored_hashes(batch, tree.stored_count(size))
    rows = (
        AuditEvent.objects.filter(leaf_index__isnull=False, leaf_index__lt=size)
        .order_by("leaf_index")
        .values_list(*COLUMNS)
        .iterator(chunk_size=batch)
    )
    while due is not None and due[0] == 0:
        due = _compare(edge, due, pending)
    for index, at, action, actor, target, data, nonce, leaf in rows:
        if index != edge.size:
            raise Broken(f"entry #{edge.size} is missing (the next is #{index})")
        entry = entries.encode(
            at=at, action=action, actor=actor, target=target, data=data, nonce=nonce
        )
        if tree.leaf_hash(entry).hex() != leaf:
            raise Broken(f"entry #{index} was changed after it was written")
        at_hash = tree.stored_count(edge.size)
        for n, made in enumerate(edge.push(bytes.fromhex(leaf))):
            if next(stored, None) != (at_hash + n, made):
                raise Broken(f"the tree's stored hashes do not match the entries at #{index}")
        count.events += 1
        while due is not None and due[0] == edge.size:
            due = _compare(edge, due, pending)
    if next(stored, None) is not None and edge.size == size:
        raise Broken(f"the tree stores hashes that its {edge.size} entries do not make")
    return edge.size, edge.root()


def _compare(
    edge: tree.Frontier, due: tuple[int, bytes], pending: Iterator[tuple[int, bytes]]
) -> tuple[int, bytes] | None:
    if edge.root() != due[1]:
        raise Broken(f"the signed checkpoint of size {due[0]} has another root than the entries")
    return next(pending, None)


def _stored_hashes(batch: int, below: int) -> Iterator[tuple[int, bytes]]:
    rows = (
        LogHash.objects.filter(id__lt=below)
        .order_by("id")
        .values_list("id", "hash")
        .iterator(chunk_size=batch)
    )
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
    for seq, at, action, actor, target, data, nonce, leaf in rows:
        entry = entries.encode(
            at=at, action=action, actor=actor, target=target, data=data, nonce=nonce
        )
        if tree.leaf_hash(entry).hex() != leaf:
            raise Broken(f"event {seq}, waiting to be integrated, was changed after it was written")
        waiting += 1
    return waiting


def _check_cosignatures() -> int:
    verifiers = logkey.verifiers()
    checked = 0
    for cosig in Cosignature.objects.select_related("witness", "checkpoint"):
        where = f"the cosignature of {cosig.witness.name} on checkpoint {cosig.checkpoint.size}"
        try:
            body = note.open_note(cosig.checkpoint.note, verifiers).text
            signature = note.Signature.parse(cosig.line)
            verifier = note.CosignatureVerifier.from_vkey(cosig.witness.vkey)
        except note.NoteError as error:
            raise Broken(f"{where} cannot be read: {error}") from None
        mine = (signature.name, signature.key_id) == (verifier.name, verifier.key_id)
        if not mine or verifier.verify(body, signature.signature) != cosig.timestamp:
            raise Broken(f"{where} does not verify")
        checked += 1
    return checked
