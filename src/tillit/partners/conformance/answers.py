"""What comes back from the partner and how a check ends when it does not pass.

An Answer is one exchange with the partner, its whole answer read (or, when none came, why
not). A check that cannot pass raises Failed, with what was sent, what came back and what the
protocol requires, or Skipped, with why it can say nothing about this partner.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from django.utils.translation import gettext as _
from tillit_partner import signing


class Failed(Exception):
    """The check failed: what was sent, what came back, what the protocol requires."""

    def __init__(self, sent: str, received: str, required: str, detail: str = "") -> None:
        super().__init__(received)
        self.sent, self.received, self.required, self.detail = sent, received, required, detail


class Skipped(Exception):
    """The check cannot say anything about this partner; the text says why."""


@dataclass(frozen=True)
class Answer:
    """One exchange with the partner. `status` is None when no answer came (`error` says
    why)."""

    method: str
    path: str
    status: int | None
    content: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    elapsed: float = 0.0
    error: str = ""
    timed_out: bool = False

    @property
    def signature(self) -> str | None:
        return self.headers.get(signing.HEADER.lower())

    def json(self) -> Any:
        try:
            return json.loads(self.content)
        except ValueError:
            return None


def network_error(error: Exception) -> str:
    """A network error in words, without the URL's user:password@ or a traceback."""
    if isinstance(error, httpx.ConnectError):
        return _("could not connect (%(error)s)") % {"error": type(error).__name__}
    return type(error).__name__
