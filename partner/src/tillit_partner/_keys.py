"""The keys of signed notes: Ed25519 keys under a name, for note signatures (type 0x01:
Verifier, Signer) and for a witness's cosignatures on checkpoints (type 0x04, cosignature/v1:
CosignatureVerifier, Cosigner), each read from and written as a vkey or skey.

Internal to tillit_partner.note, which is where these are public.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tillit_partner._encoding import (
    NoteError,
    b64encode,
    check_note_text,
    decode_key,
    key_id,
    split_key,
)
from tillit_partner._formats import Signature, cosignature_message

TYPE_ED25519 = 0x01
TYPE_COSIGNATURE_V1 = 0x04


def _public_bytes(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes_raw()


@dataclass(frozen=True)
class _VerifierKey:
    """An Ed25519 public key under a name, for one signature type."""

    key_type: ClassVar[int]
    name: str
    key_id: bytes
    public_key: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.public_key, bytes) or len(self.public_key) != 32:
            raise NoteError(f"The public key for {self.name} is not 32 bytes.")
        if self.key_id != key_id(self.name, self.key_type, self.public_key):
            raise NoteError(f"The key id for {self.name} does not match its public key.")

    @classmethod
    def from_vkey(cls, vkey: str) -> Self:
        """Parse a vkey; a key id that does not match the key is refused."""
        name, hex_id, material = split_key(vkey, 3, "verifier key")
        public_key = decode_key(name, hex_id, material, cls.key_type, "verifier key")
        return cls(name, bytes.fromhex(hex_id), public_key)

    @classmethod
    def from_public_key(cls, name: str, public_key: bytes) -> Self:
        return cls(name, key_id(name, cls.key_type, public_key), public_key)

    @property
    def vkey(self) -> str:
        material = b64encode(bytes([self.key_type]) + self.public_key)
        return f"{self.name}+{self.key_id.hex()}+{material}"

    def _verify_ed25519(self, message: bytes, signature: bytes) -> bool:
        if len(signature) != 64:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class _SignerKey:
    """An Ed25519 private key (its 32-byte seed) under a name, for one signature type."""

    key_type: ClassVar[int]
    name: str
    key_id: bytes
    seed: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.seed, bytes) or len(self.seed) != 32:
            raise NoteError(f"The private key for {self.name} is not a 32-byte Ed25519 seed.")
        if self.key_id != key_id(self.name, self.key_type, self.public_key):
            raise NoteError(f"The key id for {self.name} does not match its key.")

    @classmethod
    def generate(cls, name: str) -> Self:
        return cls.from_seed(name, Ed25519PrivateKey.generate().private_bytes_raw())

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> Self:
        if not isinstance(seed, bytes) or len(seed) != 32:
            raise NoteError(f"The private key for {name} is not a 32-byte Ed25519 seed.")
        public_key = _public_bytes(Ed25519PrivateKey.from_private_bytes(seed))
        return cls(name, key_id(name, cls.key_type, public_key), seed)

    @classmethod
    def from_skey(cls, skey: str) -> Self:
        """Parse a PRIVATE+KEY+… signer key; the key id must match the derived public key."""
        private, label, name, hex_id, material = split_key(skey, 5, "signer key")
        if (private, label) != ("PRIVATE", "KEY"):
            raise NoteError("A signer key must start with PRIVATE+KEY+.")
        seed = decode_key(name, hex_id, material, cls.key_type, "signer key")
        # Go, too, derives the public key from the seed before it checks the key id.
        return cls(name, bytes.fromhex(hex_id), seed)

    @property
    def public_key(self) -> bytes:
        return _public_bytes(self._private)

    @property
    def _private(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.seed)

    @property
    def skey(self) -> str:
        material = b64encode(bytes([self.key_type]) + self.seed)
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{material}"

    @property
    def vkey(self) -> str:
        material = b64encode(bytes([self.key_type]) + self.public_key)
        return f"{self.name}+{self.key_id.hex()}+{material}"

    def _line(self, signature: bytes) -> str:
        return Signature(self.name, self.key_id, signature).line


@dataclass(frozen=True)
class Verifier(_VerifierKey):
    """Checks Ed25519 note signatures (type 0x01) by one named key."""

    key_type: ClassVar[int] = TYPE_ED25519

    def verify(self, text: str, signature: bytes) -> bool:
        """Whether signature (the bytes after the key id) signs text."""
        return self._verify_ed25519(text.encode("utf-8"), signature)


@dataclass(frozen=True)
class Signer(_SignerKey):
    """Makes Ed25519 note signatures (type 0x01) with one named key."""

    key_type: ClassVar[int] = TYPE_ED25519

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.name, self.key_id, self.public_key)

    def sign(self, text: str) -> str:
        """One signature line for text, which must end in a newline."""
        check_note_text(text)
        return self._line(self._private.sign(text.encode("utf-8")))


@dataclass(frozen=True)
class CosignatureVerifier(_VerifierKey):
    """Checks a witness's cosignature/v1 signatures (type 0x04) on checkpoints."""

    key_type: ClassVar[int] = TYPE_COSIGNATURE_V1

    @classmethod
    def from_note_vkey(cls, vkey: str) -> Self:
        """The cosignature verifier for a witness that publishes its key as a type 0x01 vkey.

        transparency-dev's witness tooling does this; the key id is then derived afresh
        with type 0x04, as its VKeyToCosignatureV1 does.
        """
        note_key = Verifier.from_vkey(vkey)
        return cls.from_public_key(note_key.name, note_key.public_key)

    def verify(self, checkpoint_text: str, signature: bytes) -> int | None:
        """The cosignature's timestamp if signature (after the key id) is valid, else None."""
        if len(signature) != 8 + 64:
            return None
        timestamp = int.from_bytes(signature[:8], "big")
        try:
            message = cosignature_message(checkpoint_text, timestamp)
        except NoteError:
            return None
        return timestamp if self._verify_ed25519(message, signature[8:]) else None


@dataclass(frozen=True)
class Cosigner(_SignerKey):
    """Makes a witness's cosignature/v1 signatures (type 0x04) on checkpoints."""

    key_type: ClassVar[int] = TYPE_COSIGNATURE_V1

    @property
    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier(self.name, self.key_id, self.public_key)

    def cosign(self, checkpoint_text: str, timestamp: int) -> str:
        """One signature line to append to the checkpoint's note."""
        message = cosignature_message(checkpoint_text, timestamp)
        signature = timestamp.to_bytes(8, "big") + self._private.sign(message)
        return self._line(signature)
