"""The worker's client for sending leads: httpcore's connection pool, without httpx's Client.

A lead is one signed POST whose whole answer is read and checked (partners/delivery.py). The
Client's layers (cookies, authentication, redirects, event hooks, merging URLs and headers)
do nothing for it, and cost about a third of a worker's CPU per lead: on this machine's
loopback, 1.0 ms of client CPU per POST through httpcore's pool against 1.5 ms through
`httpx.Client.post`. httpcore is the transport httpx itself runs on, so connections are kept
alive and shared by the sending threads in the same way. Redirects are not followed, as they
were not before: a partner answers the lead itself; proxy settings in the environment are
not read (a partner's endpoint is reached directly).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

import httpcore

# A network failure: the partner is down, slow or cut the connection (the lead waits and is
# tried again). The name of the exception class is what the delivery records.
NETWORK_ERRORS = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.ProxyError,
    httpcore.UnsupportedProtocol,
    httpcore.ConnectionNotAvailable,
)


USER_AGENT = "tillit-worker"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case
    content: bytes


class Poster:
    """A pool of kept-alive connections, safe to share between threads."""

    def __init__(self, keepalive: int = 16) -> None:
        # As httpx's Client had it: no cap on connections (the sending threads are the cap),
        # and an idle connection dropped after 5 s rather than reused after the partner, or
        # something between, has quietly closed it.
        self.pool = httpcore.ConnectionPool(
            max_connections=None, max_keepalive_connections=keepalive, keepalive_expiry=5.0
        )

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
        """POST `body` and read the whole answer; raises one of NETWORK_ERRORS."""
        url = ascii_url(url)
        response = self.pool.request(
            "POST",
            url,
            # Host as the URL has it, without any user:password@ (httpcore would drop an IPv6
            # address's brackets); Content-Length is added by httpcore.
            headers=[
                ("Host", urlsplit(url).netloc.rpartition("@")[2]),
                ("User-Agent", USER_AGENT),
                *headers.items(),
            ],
            content=body,
            extensions={
                "timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
            },
        )
        return Answer(
            response.status,
            {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers},
            response.content,
        )

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> Poster:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def ascii_url(url: str) -> str:
    """The URL with a host outside ASCII in its IDNA form ('bølgen.example' as
    'xn--blgen-vua.example'), as httpx wrote it: httpcore takes ASCII hosts only. A host that
    IDNA cannot write is left as it is, and sending to it fails as "request not sent"."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if hostport.isascii():
        return url
    host, colon, port = hostport.rpartition(":") if ":" in hostport else (hostport, "", "")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return url
    return urlunsplit(parts._replace(netloc=f"{userinfo}{at}{host}{colon}{port}"))
