"""Message signing between tillit and a partner, both ways.

Every message carries `Tillit-Signature: t=<unix seconds>,v1=<hex>` where v1 is
HMAC-SHA256(shared secret, "<purpose>.<t>." + raw body). The purpose ("lead" for tillit's
deliveries, "receipt" for the partner's answers) keeps a message signed for one direction
from being reflected in the other. A signature older or newer than the tolerance (5 minutes)
is refused.

While a secret is being rotated, tillit signs with the new and the old secret alike
(`t=…,v1=<new>,v1=<old>`), and takes answers signed with either; a message is authentic when
any of its v1 values matches any secret the receiver holds. tillit signs and verifies with this
same module; it depends on nothing but the standard library.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence

HEADER = "Tillit-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
TOLERANCE_SECONDS = 300
# More v1 values than any rotation needs is not a signature but an attempt to guess one.
MAX_SIGNATURES = 4


class SignatureError(Exception):
    """The message is not authentic, or not fresh; the text says which, without secrets."""


def sign(
    secret: bytes | Sequence[bytes], body: bytes, *, purpose: str, timestamp: int | None = None
) -> str:
    """The header for `body`: one v1 per secret (two while a secret is being rotated)."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t}," + ",".join(f"v1={_mac(key, body, purpose, t)}" for key in _keys(secret))


def verify(
    secret: bytes | Sequence[bytes],
    body: bytes,
    header: str | None,
    *,
    purpose: str,
    tolerance: int = TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """Check the header against the body with any of the secrets held; return its timestamp
    or raise SignatureError."""
    if not header:
        raise SignatureError("missing signature")
    fields = [p.split("=", 1) for p in header.split(",") if "=" in p]
    stamps = [value for name, value in fields if name.strip() == "t"]
    given = [value for name, value in fields if name.strip() == "v1"]
    current = time.time() if now is None else now
    try:
        if len(stamps) != 1 or not given or len(given) > MAX_SIGNATURES:
            raise ValueError
        t = int(stamps[0])
        # A timestamp too large for a float is malformed, not a crash.
        skew = abs(current - t)
    except (ValueError, OverflowError):
        raise SignatureError("malformed signature header") from None
    if skew > tolerance:
        raise SignatureError("signature timestamp outside the tolerance")
    # Compared as bytes: compare_digest refuses str with non-ASCII characters. Every pair is
    # compared, so the time taken does not tell which one matched.
    expected = [_mac(key, body, purpose, t).encode() for key in _keys(secret)]
    matches = [
        hmac.compare_digest(value.encode(errors="replace"), mac)
        for value in given
        for mac in expected
    ]
    if not any(matches):
        raise SignatureError("signature does not match")
    return t


def _keys(secret: bytes | Sequence[bytes]) -> list[bytes]:
    return [secret] if isinstance(secret, bytes) else list(secret)


def _mac(secret: bytes, body: bytes, purpose: str, t: int) -> str:
    return hmac.new(secret, f"{purpose}.{t}.".encode() + body, hashlib.sha256).hexdigest()
