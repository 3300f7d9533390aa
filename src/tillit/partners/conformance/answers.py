"""What comes back from the partner and how a check ends when it does not pass.

An Answer is one exchange with the partner, its whole answer read (or, when none came, why
not); fetch makes one. A check that cannot pass raises Failed, with what was sent, what came
back and what the protocol requires, or Skipped, with why it can say nothing about this
partner.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from django.utils.translation import gettext as _
from tillit_partner import signing

# No answer of the protocol comes near this; a partner that floods is cut off here.
MAX_ANSWER_BYTES = 262_144


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


def fetch(
    http: httpx.Client,
    method: str,
    path: str,
    url: str,
    *,
    content: bytes | None,
    headers: dict[str, str] | None,
    timeout: float,
) -> Answer:
    """One request to `url` (`path` is how the answer names it), its whole answer read up to
    MAX_ANSWER_BYTES. Never raises: no answer is an Answer without a status."""
    start = time.monotonic()
    try:
        with http.stream(method, url, content=content, headers=headers) as response:
            read = b""
            for chunk in response.iter_bytes():
                read += chunk
                if len(read) > MAX_ANSWER_BYTES:
                    break
            return Answer(
                method,
                path,
                response.status_code,
                read[:MAX_ANSWER_BYTES],
                {k.lower(): v for k, v in response.headers.items()},
                time.monotonic() - start,
            )
    except httpx.TimeoutException:
        return Answer(
            method,
            path,
            None,
            elapsed=time.monotonic() - start,
            error=_("no answer within %(seconds)s s") % {"seconds": f"{timeout:g}"},
            timed_out=True,
        )
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as error:
        return Answer(
            method, path, None, elapsed=time.monotonic() - start, error=network_error(error)
        )


def network_error(error: Exception) -> str:
    """A network error in words, without the URL's user:password@ or a traceback."""
    if isinstance(error, httpx.ConnectError):
        return _("could not connect (%(error)s)") % {"error": type(error).__name__}
    return type(error).__name__
