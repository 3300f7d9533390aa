"""Message signing between tillit and a partner, both ways.

Every message carries `Tillit-Signature: t=<unix seconds>,v1=<hex>` where v1 is
HMAC-SHA256(shared secret, "<purpose>.<t>." + raw body). The purpose ("lead" for tillit's
deliveries, "receipt" for the partner's answers) keeps a message signed for one direction
from being reflected in the other. A signature older or newer than the tolerance (5 minutes)
is refused. This module depends on nothing but the standard library, so a partner can copy it.
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "Tillit-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
TOLERANCE_SECONDS = 300


class SignatureError(Exception):
    """The message is not authentic, or not fresh; the text says which, without secrets."""


def sign(secret: bytes, body: bytes, *, purpose: str, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={_mac(secret, body, purpose, t)}"


def verify(
    secret: bytes,
    body: bytes,
    header: str | None,
    *,
    purpose: str,
    tolerance: int = TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """Check the header against the body; return its timestamp or raise SignatureError."""
    if not header:
        raise SignatureError("missing signature")
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    current = time.time() if now is None else now
    try:
        t = int(parts["t"])
        given = parts["v1"]
        # A timestamp too large for a float is malformed, not a crash.
        skew = abs(current - t)
    except (KeyError, ValueError, OverflowError):
        raise SignatureError("malformed signature header") from None
    if skew > tolerance:
        raise SignatureError("signature timestamp outside the tolerance")
    # Compared as bytes: compare_digest refuses str with non-ASCII characters.
    expected = _mac(secret, body, purpose, t).encode()
    if not hmac.compare_digest(given.encode(errors="replace"), expected):
        raise SignatureError("signature does not match")
    return t


def _mac(secret: bytes, body: bytes, purpose: str, t: int) -> str:
    return hmac.new(secret, f"{purpose}.{t}.".encode() + body, hashlib.sha256).hexdigest()
