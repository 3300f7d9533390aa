"""Envelopes: AES-256-GCM ciphertext with its own data key, wrapped by a key-encryption key.

Shredding an envelope deletes its row: with SQLite's secure_delete on, the freed pages are
overwritten, and without the wrapped data key the ciphertext could not be read anyway.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import models
from django.utils import timezone

from tillit.vault import keys
from tillit.vault.pii import Pii


class Purpose(models.TextChoices):
    LEAD = "lead", "lead waiting for delivery"
    NOTICE = "notice", "address for one notice"
    PARTNER_SECRET = "partner-secret", "a partner's signing secret"
    CHALLENGE = "challenge", "address and one-time code, until verified or expired"
    REQUEST = "request", "address to answer a rights request, until it is closed"
    EXPORT = "export", "a person's data for download, until downloaded or 7 days old"
    PARTNER_ANSWER = "partner-answer", "a partner's uploaded answer, until it is in the export"
    CONTACT = "contact", "a contact-form message and its replies, until 30 days after closing"
    INTAKE = "intake", "a sign-up as typed, until the worker has recorded it (seconds)"


class EnvelopeQuerySet(models.QuerySet["Envelope"]):
    def seal(self, data: dict[str, Any], purpose: str) -> Envelope:
        """Encrypt `data` (Pii values are revealed into the ciphertext only) and save it."""
        envelope = self.sealed(data, purpose)
        envelope.save(force_insert=True)
        return envelope

    def sealed(self, data: dict[str, Any], purpose: str) -> Envelope:
        """The envelope `seal` would save, not saved yet (for callers that write it their way)."""
        return sealed(data, purpose)

    def shred(self) -> int:
        """Destroy these envelopes: their data keys and ciphertext go with the rows."""
        deleted, _ = self.delete()
        return deleted


class Envelope(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    kek_id = models.CharField(max_length=20)
    wrapped_key = models.BinaryField()
    nonce = models.BinaryField()
    ciphertext = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = EnvelopeQuerySet.as_manager()

    class Meta:
        # The worker takes the oldest envelopes of one purpose first (sign-ups' intake).
        indexes = [models.Index(fields=["purpose", "created_at"], name="vault_env_purpose_at")]

    def __str__(self) -> str:
        return f"envelope {self.id} ({self.purpose})"

    def aad(self) -> bytes:
        return f"tillit/envelope/{self.id}/{self.purpose}".encode()

    def open(self) -> dict[str, Pii]:
        """Decrypt and return every value wrapped as Pii."""
        keyring = keys.load()
        if self.kek_id not in keyring.keks:
            # Another process may have rotated the keyring since it was read.
            keys._cache.clear()
            keyring = keys.load()
        data_key = _unwrap(keyring, self.kek_id, self.id, bytes(self.wrapped_key))
        plain = AESGCM(data_key).decrypt(bytes(self.nonce), bytes(self.ciphertext), self.aad())
        return {k: Pii(v) for k, v in json.loads(plain).items()}

    def rewrap(self, keyring: keys.Keyring) -> bool:
        """Wrap this envelope's data key under the active KEK; False if someone else did."""
        data_key = _unwrap(keyring, self.kek_id, self.id, bytes(self.wrapped_key))
        wrapped = _wrap(keyring, keyring.active, self.id, data_key)
        updated = Envelope.objects.filter(id=self.id, kek_id=self.kek_id).update(
            kek_id=keyring.active, wrapped_key=wrapped
        )
        return updated == 1

    def shred(self) -> None:
        Envelope.objects.filter(id=self.id).shred()


def sealed(data: dict[str, Any], purpose: str) -> Envelope:
    """A new envelope holding `data`, not saved yet (`Envelope.objects.seal` saves it)."""
    plain = json.dumps(
        {k: v.reveal() if isinstance(v, Pii) else v for k, v in data.items()},
        separators=(",", ":"),
    ).encode()
    envelope = Envelope(id=uuid.uuid4(), purpose=purpose)
    keyring = keys.load()
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    envelope.nonce = nonce
    envelope.ciphertext = AESGCM(data_key).encrypt(nonce, plain, envelope.aad())
    envelope.kek_id = keyring.active
    envelope.wrapped_key = _wrap(keyring, keyring.active, envelope.id, data_key)
    return envelope


def _wrap(keyring: keys.Keyring, kek_id: str, envelope_id: uuid.UUID, data_key: bytes) -> bytes:
    nonce = os.urandom(12)
    aad = f"tillit/kek/{kek_id}/{envelope_id}".encode()
    return nonce + AESGCM(keyring.kek(kek_id)).encrypt(nonce, data_key, aad)


def _unwrap(keyring: keys.Keyring, kek_id: str, envelope_id: uuid.UUID, wrapped: bytes) -> bytes:
    aad = f"tillit/kek/{kek_id}/{envelope_id}".encode()
    return AESGCM(keyring.kek(kek_id)).decrypt(wrapped[:12], wrapped[12:], aad)
