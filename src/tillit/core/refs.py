"""Short references people quote (a request, a message, a case): from the row's random id,
never from anything about the person."""

from __future__ import annotations

import uuid


def short(prefix: str, value: uuid.UUID) -> str:
    text = value.hex.upper()
    return f"{prefix}-{text[:4]}-{text[4:8]}"
