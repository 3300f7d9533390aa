"""The HTTP request and response the partner's core handles without a web framework, and
the refusal a handler raises to answer with an error.

Both are public as tillit_partner.Request and tillit_partner.Response (and from
tillit_partner.core); an adapter makes the one and sends back the other.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Request:
    """An HTTP request as the partner received it. `path` is relative to the endpoint tillit
    was given ("/leads"); `base_url` is the endpoint as the client reached it (for the links
    the answers carry); header names are looked up case-insensitively."""

    method: str
    path: str
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    base_url: str = ""

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> object:
        return json.loads(self.body)


class Refusal(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def plain(status: int, text: str) -> Response:
    """A plain-text answer: the text and a newline."""
    return Response(status, text.encode() + b"\n", "text/plain")
