"""tillit's side of message signing: the partner library's own module, so that both sides sign
and verify with the same code (partner/src/tillit_partner/signing.py)."""

from tillit_partner.signing import (
    HEADER,
    IDEMPOTENCY_HEADER,
    MAX_SIGNATURES,
    TOLERANCE_SECONDS,
    SignatureError,
    sign,
    verify,
)

__all__ = [
    "HEADER",
    "IDEMPOTENCY_HEADER",
    "MAX_SIGNATURES",
    "TOLERANCE_SECONDS",
    "SignatureError",
    "sign",
    "verify",
]
