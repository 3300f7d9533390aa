"""The sequencer: gives arrived events their places in the tree, then signs checkpoints.

Writers only INSERT events (models.record). Here, one batch at a time and in one transaction,
the waiting events (oldest arrival first) get the next leaf indexes, the hashes of the complete
subtrees they finish are stored, and the tree's size and root move on. The transaction holds
the `LogState` row, which only sequencers touch, so two sequencers (two workers, or the worker
and `tillit log integrate`) take turns and no writer waits for either. A crash before the
commit leaves the batch waiting, as if nothing had happened; after it, the batch is in the
tree, once: an index is unique, and only waiting events are given one.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from tillit_partner import note, tree

from tillit.audit import logkey
from tillit.audit.models import AuditEvent, Checkpoint, Cosignature, LogHash, LogState, Witness
from tillit.audit.proofs import read_hashes

log = logging.getLogger("tillit.audit")
BATCH = 10_000


@dataclass(frozen=True)
class Integrated:
    entries: int
    size: int


def state(*, lock: bool = False) -> LogState:
    rows = LogState.objects.select_for_update() if lock else LogState.objects
    current = rows.filter(pk=1).first()
    if current is None:
        LogState.objects.get_or_create(pk=1, defaults={"origin": logkey.load().origin})
        current = rows.get(pk=1)
    return current


def integrate(batch: int = BATCH) -> Integrated:
    """Integrate every waiting event, a batch per transaction, so memory stays flat."""
    total = 0
    while True:
        added, size = _integrate_batch(batch)
        total += added
        if added < batch:
            return Integrated(total, size)


def _integrate_batch(batch: int) -> tuple[int, int]:
    with transaction.atomic():
        current = state(lock=True)
        if connection.vendor == "postgresql":
            # The statistics see events wait briefly, a few at a time, and after a backlog (a
            # worker down) they keep saying so until the next ANALYZE. The planner then reads
            # every waiting row (a bitmap scan and a sort) to find the oldest, and again to join
            # the UPDATE: each batch costs as much as the whole backlog (1,000,000 waiting:
            # 7,300 entries/s, 19,500 with this). Walking the partial index in order is right
            # whatever the statistics say; set_config(..., true) lasts until this commit.
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT set_config('enable_bitmapscan', 'off', true), "
                    "set_config('enable_hashjoin', 'off', true), "
                    "set_config('enable_mergejoin', 'off', true)"
                )
        waiting = list(
            AuditEvent.objects.filter(leaf_index__isnull=True)
            .order_by("seq")
            .values_list("seq", "leaf_hash")[:batch]
        )
        if not waiting:
            return 0, current.size
        edge = tree.frontier(current.size, read_hashes)
        made: list[bytes] = []
        for _, leaf in waiting:
            made.extend(edge.push(bytes.fromhex(leaf)))
        _store(tree.stored_count(current.size), made, current.size, [seq for seq, _ in waiting])
        current.size = edge.size
        current.root = edge.root().hex()
        current.integrated_at = timezone.now()
        current.save(update_fields=["size", "root", "integrated_at"])
        return len(waiting), current.size


def _store(first_hash: int, made: list[bytes], first_leaf: int, seqs: list[int]) -> None:
    """The stored hashes `made` at indexes from `first_hash` on, and the events `seqs` at the
    leaf indexes from `first_leaf` on (both run without gaps, so only the first is passed).

    Plain parameterised statements: at tens of thousands of rows a second, the ORM's SQL
    compilation would cost more than the database's work. On PostgreSQL each table gets one
    statement for the whole batch: row by row, every statement is a round trip and a parse (a
    batch of 10,000 took 2 s). The hashes go as one bytea of 32-byte pieces and the numbers
    from a series: psycopg quotes each element of an array in Python, and that was 60 % of the
    INSERT's time. SQLite runs in-process, and executemany steps one compiled statement per
    row, which is as fast as it gets there."""
    hash_table = connection.ops.quote_name(LogHash._meta.db_table)
    event_table = connection.ops.quote_name(AuditEvent._meta.db_table)
    size = tree.HASH_SIZE
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"INSERT INTO {hash_table} (id, hash) "  # noqa: S608
                f"SELECT %s + n, substring(%s::bytea FROM n * {size} + 1 FOR {size}) "
                "FROM generate_series(0, %s - 1) AS n",
                (first_hash, b"".join(made), len(made)),
            )
            # The events by arrival number, listed: on PostgreSQL an event with a smaller
            # number may commit after those read, and it is not in this batch's hashes.
            cursor.execute(
                f"UPDATE {event_table} AS e SET leaf_index = %s + p.n - 1 "  # noqa: S608
                "FROM unnest(%s::bigint[]) WITH ORDINALITY AS p (seq, n) "
                "WHERE e.seq = p.seq AND e.leaf_index IS NULL",
                (first_leaf, seqs),
            )
        else:
            cursor.executemany(
                f"INSERT INTO {hash_table} (id, hash) VALUES (%s, %s)",  # noqa: S608
                zip(range(first_hash, first_hash + len(made)), made, strict=True),
            )
            cursor.executemany(
                f"UPDATE {event_table} SET leaf_index = %s WHERE seq = %s AND leaf_index IS NULL",  # noqa: S608
                zip(range(first_leaf, first_leaf + len(seqs)), seqs, strict=True),
            )
        placed = cursor.rowcount
    if placed != len(seqs):
        # Only waiting events get a place, each once: if one of them has one already, the
        # hashes just computed are not the tree's. Raising rolls the whole batch back.
        raise RuntimeError(
            f"{len(seqs) - placed} of {len(seqs)} events were no longer waiting: "
            "is something other than the sequencer setting leaf_index?"
        )


def sign_checkpoint(*, force: bool = False) -> Checkpoint | None:
    """A new signed checkpoint when the tree has grown since the last one, or a key handover
    is due; none more often than every LOG_CHECKPOINT_SECONDS, unless forced."""
    keys = logkey.load()
    with transaction.atomic():
        current = state(lock=True)
        latest = Checkpoint.objects.order_by("-id").first()
        handover = keys.previous is not None
        if latest is not None and not handover:
            if latest.size == current.size:
                return None
            wait = dt.timedelta(seconds=settings.LOG_CHECKPOINT_SECONDS)
            if not force and timezone.now() - latest.signed_at < wait:
                return None
        # The public half of every key that signs is on record before its first signature.
        logkey.register(keys.active)
        body = note.Checkpoint(current.origin, current.size, bytes.fromhex(current.root))
        made = Checkpoint.objects.create(
            size=current.size,
            root=current.root,
            note=note.sign_note(body.text(), *keys.signers()),
        )
    if handover:
        logkey.handed_over()
        log.info("log key handed over at checkpoint %s", made.size)
    return made


def step() -> int:
    """The worker's turn: integrate what arrived, and sign for it. Returns entries added.
    Without the log's key nothing is integrated (the events wait, none is lost), and the
    worker's other work goes on; system check tillit.W040 says what to do."""
    try:
        added = integrate().entries
        sign_checkpoint()
    except logkey.LogKeyMissing as missing:
        _warn_once(str(missing))
        return 0
    return added


def sign_now() -> Checkpoint | None:
    """A checkpoint at once if the tree has grown (the end of `tillit worker --drain`)."""
    try:
        return sign_checkpoint(force=True)
    except logkey.LogKeyMissing as missing:
        _warn_once(str(missing))
        return None


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        log.error("consent log: %s; events wait until it is there", message)


def thin_checkpoints(now: dt.datetime) -> int:
    """Checkpoints older than a day are thinned to the last one of each hour; the latest, and
    the latest each witness co-signed, always stay. Every checkpoint is a root of the same
    tree, and consistency proofs join any two sizes, so a thinned one proves nothing that a
    later one does not (what a witness holds, it holds itself)."""
    old = Checkpoint.objects.filter(signed_at__lt=now - dt.timedelta(days=1))
    last_of_hour: dict[dt.datetime, int] = {}
    for pk, signed_at in old.order_by("id").values_list("id", "signed_at").iterator():
        last_of_hour[signed_at.replace(minute=0, second=0, microsecond=0)] = pk
    keep = set(last_of_hour.values())
    keep.update(Checkpoint.objects.order_by("-id").values_list("id", flat=True)[:1])
    for witness in Witness.objects.all():
        latest = Cosignature.objects.filter(witness=witness).order_by("-checkpoint_id").first()
        if latest is not None:
            keep.add(latest.checkpoint_id)
    doomed = old.exclude(id__in=keep)
    with transaction.atomic():
        Cosignature.objects.filter(checkpoint__in=doomed).delete()
        count, _ = doomed.delete()
    return count
