"""The audit log: pseudonymous events as the leaves of an RFC 9162 Merkle tree (docs/log.md).

Writing an event is one INSERT in the writer's own transaction, with its leaf hash already
computed: no row is shared by writers, so they never wait for each other (on PostgreSQL the
arrival number comes from a sequence, which is not held until commit). The sequencer
(audit/sequencer.py) later gives arrived events their place in the tree, in batches, and stores
the hash of every complete subtree (`LogHash`), so that every root and proof is a few reads.
Signed checkpoints, witnesses' cosignatures and alarms live here too.

Events carry pseudonymous ids and hashes only, never personal data, so the log can be kept
forever without colliding with erasure.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from tillit_partner import tree

from tillit.audit import entries


class AuditEvent(models.Model):
    # Arrival order, from the database: not the place in the tree, which concurrent commits
    # on PostgreSQL may give in another order.
    seq = models.BigAutoField(_("number"), primary_key=True)
    at = models.DateTimeField(_("at"))
    action = models.CharField(_("action"), max_length=60)
    actor = models.CharField(_("actor"), max_length=80)
    target = models.CharField(_("target"), max_length=80, blank=True, db_index=True)
    data = models.JSONField(_("data"), default=dict, blank=True)
    # 128 random bits in the entry, so that a public leaf hash cannot be matched by guessing.
    nonce = models.CharField(_("nonce"), max_length=32)
    leaf_hash = models.CharField(_("leaf hash"), max_length=64, db_index=True)
    # The place in the tree, from 0; empty until the sequencer integrates the event.
    leaf_index = models.BigIntegerField(_("place in the tree"), null=True, blank=True, unique=True)

    class Meta:
        ordering = ["seq"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [
            models.Index(
                fields=["seq"],
                name="audit_event_waiting",
                condition=models.Q(leaf_index__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.target}"

    def entry(self) -> bytes:
        return entries.encode(
            at=self.at,
            action=self.action,
            actor=self.actor,
            target=self.target,
            data=self.data,
            nonce=self.nonce,
        )

    def compute_leaf_hash(self) -> str:
        return tree.leaf_hash(self.entry()).hex()


def record(action: str, *, actor: str, target: str = "", **data: Any) -> AuditEvent:
    """Append one event: a single INSERT inside the caller's transaction, if there is one, so
    the event exists if and only if the work it records does."""
    event = new_event(action, actor=actor, target=target, **data)
    event.save(force_insert=True)
    return event


def record_all(events: list[AuditEvent]) -> None:
    """Append events made by `new_event`, in one INSERT (a worker's batch)."""
    AuditEvent.objects.bulk_create(events)


def new_event(action: str, *, actor: str, target: str = "", **data: Any) -> AuditEvent:
    """The event `record` would append, not written yet."""
    event = AuditEvent(
        at=timezone.now(),
        action=action,
        actor=actor,
        target=target,
        data=data,
        nonce=entries.new_nonce(),
    )
    event.leaf_hash = event.compute_leaf_hash()
    return event


class LogHash(models.Model):
    """The hash of one complete subtree, at its stored index (tillit_partner.tree)."""

    id = models.BigIntegerField(primary_key=True)
    hash = models.BinaryField(max_length=32)

    def __str__(self) -> str:
        return f"stored hash {self.id}"


class LogState(models.Model):
    """The tree as the sequencer left it: one row, locked by the sequencer alone."""

    origin = models.CharField(max_length=200)
    size = models.BigIntegerField(default=0)
    root = models.CharField(max_length=64, default=tree.EMPTY_ROOT.hex())
    integrated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.origin} at {self.size}"


class LogKey(models.Model):
    """The public half of each key the log has signed with; the private half of the current
    one lives in the data directory (audit/keys.py), like the keyring."""

    name = models.CharField(max_length=200)
    key_id = models.CharField(max_length=8)
    vkey = models.CharField(max_length=300, unique=True)
    made_at = models.DateTimeField(default=timezone.now)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["made_at"]

    def __str__(self) -> str:
        return self.vkey


class Checkpoint(models.Model):
    size = models.BigIntegerField(db_index=True)
    root = models.CharField(max_length=64)
    note = models.TextField()
    signed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-size", "-id"]
        get_latest_by = "id"

    def __str__(self) -> str:
        return f"checkpoint {self.size}"


class Witness(models.Model):
    """Someone who co-signs the log's checkpoints once they have checked that each extends the
    last they signed: a partner, or an auditor the operator names."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    url = models.URLField(_("URL"), max_length=300)
    vkey = models.CharField(_("verifier key"), max_length=300)
    partner = models.ForeignKey(
        "partners.Partner",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        verbose_name=_("partner"),
    )
    active = models.BooleanField(_("active"), default=True)
    # The size of the latest checkpoint it co-signed, as far as we know.
    size = models.BigIntegerField(_("size"), default=0)
    cosigned_at = models.DateTimeField(_("co-signed at"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    tried_at = models.DateTimeField(_("tried at"), null=True, blank=True)
    added_at = models.DateTimeField(_("added at"), default=timezone.now)

    class Meta:
        verbose_name = _("witness")
        verbose_name_plural = _("witnesses")

    def __str__(self) -> str:
        return self.name


class Cosignature(models.Model):
    witness = models.ForeignKey(Witness, on_delete=models.PROTECT)
    checkpoint = models.ForeignKey(Checkpoint, on_delete=models.PROTECT, related_name="cosigs")
    line = models.CharField(max_length=400)
    timestamp = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["witness", "checkpoint"], name="one_cosig_each")
        ]

    def __str__(self) -> str:
        return f"{self.witness} on {self.checkpoint}"


class LogAlarm(models.Model):
    """A witness refused a checkpoint because it does not extend one it signed: the log was
    rolled back, forked or rewritten. Raised loudly in the console until someone resolves it."""

    class Kind(models.TextChoices):
        ROLLBACK = "rollback", _("rolled back: a witness has signed a larger tree")
        FORK = "fork", _("forked: the tree does not extend what a witness signed")
        REFUSED = "refused", _("a witness refused the checkpoint")

    kind = models.CharField(max_length=20, choices=Kind.choices)
    witness = models.ForeignKey(Witness, null=True, blank=True, on_delete=models.SET_NULL)
    detail = models.CharField(max_length=500)
    raised_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=80, blank=True)
    # What was found: a restore from a backup, a second database, a change by hand.
    resolution = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-raised_at"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"
