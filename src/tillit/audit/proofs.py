"""Reading the log: checkpoints as published, and proofs made from the stored hashes.

Every proof is one query for at most about 2 log2(n) stored hashes (tillit_partner.tree), never a
scan, whatever the size of the log.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, models
from tillit_partner import tree

from tillit.audit.models import AuditEvent, Checkpoint, Cosignature, LogHash


class LogIncomplete(Exception):
    """A stored hash a proof needs is missing: the log's tables were damaged."""


class NotInLog(Exception):
    """No such entry, or not yet integrated, or not in the tree of the size asked for."""


def read_hashes(indexes: Sequence[int]) -> list[bytes]:
    """The stored hashes at these indexes, in one query. Plain SQL: a proof is a few such reads,
    and building the ORM's query cost several times what the database takes to answer it."""
    if not indexes:
        return []
    wanted = sorted(set(indexes))
    table = connection.ops.quote_name(LogHash._meta.db_table)
    marks = ", ".join(["%s"] * len(wanted))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, hash FROM {table} WHERE id IN ({marks})", wanted)  # noqa: S608
        found = dict(cursor.fetchall())
    try:
        return [bytes(found[i]) for i in indexes]
    except KeyError as missing:
        raise LogIncomplete(f"stored hash {missing} is missing") from None


def published(checkpoint: Checkpoint | None = None) -> str:
    """The checkpoint as served: the log's signed note with every witness's cosignature."""
    checkpoint = checkpoint or latest()
    if checkpoint is None:
        return ""
    lines = "".join(c.line for c in checkpoint.cosigs.order_by("witness__name"))
    return checkpoint.note + lines


def latest() -> Checkpoint | None:
    return Checkpoint.objects.order_by("-id").first()


@dataclass(frozen=True)
class Inclusion:
    index: int
    size: int
    leaf_hash: bytes
    proof: list[bytes]

    def as_json(self) -> dict[str, Any]:
        return {
            "leaf_index": self.index,
            "tree_size": self.size,
            "leaf_hash": b64(self.leaf_hash),
            "inclusion_path": [b64(h) for h in self.proof],
        }


def inclusion(index: int, size: int) -> Inclusion:
    if not 0 <= index < size:
        raise NotInLog(f"leaf {index} is not in a tree of {size}")
    proof = tree.inclusion_proof(index, size, read_hashes)
    return Inclusion(index, size, read_hashes([tree.stored_index(0, index)])[0], proof)


def index_of(leaf_hash: bytes) -> int:
    """The first place in the tree of an entry with this leaf hash."""
    found = (
        AuditEvent.objects.filter(leaf_hash=leaf_hash.hex(), leaf_index__isnull=False)
        .order_by("leaf_index")
        .values_list("leaf_index", flat=True)
        .first()
    )
    if found is None:
        raise NotInLog("no integrated entry has this leaf hash")
    return found


def consistency(old_size: int, new_size: int) -> list[bytes]:
    return tree.consistency_proof(old_size, new_size, read_hashes)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# The events of a consent that its receipt proves: given (or refused), confirmed, withdrawn.
RECEIPT_ACTIONS = ("subject.registered", "subject.confirmed", "consent.withdrawn")
IN_LOG = "in the log"
BEING_ADDED = "being added to the log"


def receipt_section(target: str) -> dict[str, Any]:
    """The log section of a consent receipt: each event's entry and inclusion path into one
    signed checkpoint, preferably one the witnesses have co-signed."""
    from tillit.audit.models import LogKey, Witness

    events = list(AuditEvent.objects.filter(target=target, action__in=RECEIPT_ACTIONS))
    key = LogKey.objects.filter(retired_at__isnull=True).order_by("-made_at").first()
    section: dict[str, Any] = {
        "status": BEING_ADDED,
        "verifier_key": key.vkey if key else "",
        "witnesses": [
            {"name": name, "vkey": vkey}
            for name, vkey in Witness.objects.filter(active=True).values_list("name", "vkey")
        ],
    }
    if not events or any(e.leaf_index is None for e in events):
        return section
    need = max(e.leaf_index for e in events) + 1
    checkpoint = _best_checkpoint(need, key.made_at if key else None)
    if checkpoint is None:
        return section
    section.update(
        status=IN_LOG,
        checkpoint=published(checkpoint),
        entries=[
            {"action": e.action, "entry": e.entry().decode()}
            | inclusion(e.leaf_index, checkpoint.size).as_json()
            for e in sorted(events, key=lambda e: e.leaf_index)
        ],
    )
    return section


def _best_checkpoint(size: int, since: Any) -> Checkpoint | None:
    """Of the latest few checkpoints that hold `size` entries and are signed by the current
    key (the one the receipt names), the one most witnesses signed."""
    candidates = Checkpoint.objects.filter(size__gte=size)
    if since is not None:
        candidates = candidates.filter(signed_at__gte=since)
    recent = list(candidates.order_by("-id")[:10])
    witnessed = dict(
        Cosignature.objects.filter(checkpoint__in=recent)
        .values("checkpoint")
        .annotate(n=models.Count("id"))
        .values_list("checkpoint", "n")
    )
    return max(recent, key=lambda c: (witnessed.get(c.id, 0), c.id), default=None)
