"""The audit log: append-only, each event's hash covering the one before it.

Events carry pseudonymous ids and hashes only, never personal data, so the log can be kept
forever without colliding with erasure. `AuditHead` holds the last sequence number and hash:
appending locks it, which serialises writers on PostgreSQL (SQLite's IMMEDIATE transactions
already do), and it lets the verifier notice events cut from the end.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.db import models, transaction
from django.utils import timezone

GENESIS = "0" * 64


class AuditEvent(models.Model):
    seq = models.BigIntegerField(primary_key=True)
    at = models.DateTimeField()
    action = models.CharField(max_length=60)
    actor = models.CharField(max_length=80)
    target = models.CharField(max_length=80, blank=True)
    data = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.target}"

    def compute_hash(self) -> str:
        body = json.dumps(
            {
                "seq": self.seq,
                "at": self.at.isoformat(),
                "action": self.action,
                "actor": self.actor,
                "target": self.target,
                "data": self.data,
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256((self.prev_hash + body).encode()).hexdigest()


class AuditHead(models.Model):
    """The one row that names the chain's last event."""

    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS)

    def __str__(self) -> str:
        return f"head #{self.seq}"


def record(action: str, *, actor: str, target: str = "", **data: Any) -> AuditEvent:
    """Append one event to the chain (inside the caller's transaction, if there is one: no
    savepoint, since a failure here must undo the caller's work too)."""
    with transaction.atomic(savepoint=False):
        head, _ = AuditHead.objects.select_for_update().get_or_create(pk=1)
        event = AuditEvent(
            seq=head.seq + 1,
            at=timezone.now(),
            action=action,
            actor=actor,
            target=target,
            data=data,
            prev_hash=head.hash,
        )
        event.hash = event.compute_hash()
        event.save(force_insert=True)
        AuditHead.objects.filter(pk=1).update(seq=event.seq, hash=event.hash)
    return event


@dataclass
class Verdict:
    ok: bool
    events: int
    problem: str = ""


def verify(batch: int = 2000) -> Verdict:
    """Recompute the chain from the first event to the head; name the first break found."""
    expected_prev, expected_seq, count = GENESIS, 1, 0
    events = AuditEvent.objects.order_by("seq").iterator(chunk_size=batch)
    for event in events:
        if event.seq != expected_seq:
            return Verdict(False, count, f"event #{expected_seq} is missing (next is #{event.seq})")
        if event.prev_hash != expected_prev:
            return Verdict(False, count, f"event #{event.seq} does not follow the one before it")
        if event.compute_hash() != event.hash:
            return Verdict(False, count, f"event #{event.seq} was changed after it was written")
        expected_prev, expected_seq, count = event.hash, expected_seq + 1, count + 1
    head = AuditHead.objects.filter(pk=1).first()
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    if (head_seq, head_hash) != (count, expected_prev):
        return Verdict(False, count, f"the log ends at #{count} but its head says #{head_seq}")
    return Verdict(True, count)
