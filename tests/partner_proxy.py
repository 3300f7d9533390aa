"""A broken partner made of the real one: an HTTP proxy in front of the reference partner (its
own process) that breaks exactly one thing, so that a test can prove the partner check
catches it. The proxy knows the shared secret, as a partner does, so what it changes it can
sign again.

A Breakage says what changes: `request` may rewrite a request on its way to the partner or
answer it itself, `response` may rewrite the partner's answer, and `callback` (with
`rewrites_callbacks`) sees each status callback the partner sends: the proxy puts itself in
every rights request's status_callback_urls, so the callbacks come through it.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from tillit.partners import signing

FORWARDED = ("content-type", "tillit-signature", "idempotency-key")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def purpose(self) -> str:
        """The purpose tillit signs this request with."""
        if self.path.startswith("/leads"):
            return "lead"
        if self.path.startswith("/messages"):
            return "message"
        return "dsr"

    @property
    def signed(self) -> bytes:
        return self.body if self.method == "POST" else f"{self.method} {self.path}".encode()


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


class Breakage:
    """A partner that does one thing wrong; this base does nothing wrong."""

    rewrites_callbacks = False

    def request(self, proxy: Proxy, request: Request) -> Request | Answer:
        return request

    def response(self, proxy: Proxy, request: Request, answer: Answer) -> Answer:
        return answer

    def callback(self, proxy: Proxy, body: dict, original: str) -> tuple[bytes, str | None] | None:
        """The callback to pass on to `original` (body and signature), or None to drop it.
        By default, as the partner would have sent it there."""
        body = {**body, "status_callback_url": original}
        raw = json.dumps(body).encode()
        return raw, proxy.sign(raw, "dsr-callback")


class Proxy:
    def __init__(
        self, upstream_url: str, secret: str, breakage: Breakage, prefix: str = ""
    ) -> None:
        """`prefix`: the partner is reached under this base path, as if mounted there."""
        self.upstream = upstream_url
        self.prefix = prefix
        self.secret = secret.encode()
        self.breakage = breakage
        self.http = httpx.Client(timeout=30, trust_env=False)
        self.seen: dict[str, object] = {}  # what a breakage remembers between requests
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                proxy.handle(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                proxy.handle(self, "POST")

            def do_DELETE(self) -> None:  # noqa: N802
                proxy.handle(self, "DELETE")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.http.close()

    # Signing, as the partner (or, for requests, as tillit) would.

    def sign(self, signed: bytes, purpose: str) -> str:
        return signing.sign(self.secret, signed, purpose=purpose)

    def verifies(self, signed: bytes, header: str | None, purpose: str, **options: int) -> bool:
        try:
            signing.verify(self.secret, signed, header, purpose=purpose, **options)
        except signing.SignatureError:
            return False
        return True

    def resigned(self, request: Request, body: bytes | None = None) -> Request:
        """The request with `body` (or its own), signed properly."""
        request = replace(request, body=request.body if body is None else body)
        headers = {
            **request.headers,
            "tillit-signature": self.sign(request.signed, request.purpose),
        }
        return replace(request, headers=headers)

    def answer(self, status: int, data: object, purpose: str) -> Answer:
        body = json.dumps(data).encode()
        headers = {"content-type": "application/json", "tillit-signature": self.sign(body, purpose)}
        return Answer(status, headers, body)

    def forward(self, request: Request) -> Answer:
        # The Host header too, as a reverse proxy passes it: the partner names URLs (a
        # results_url) by the address it was reached at.
        headers = {k: v for k, v in request.headers.items() if k in (*FORWARDED, "host")}
        response = self.http.request(
            request.method, self.upstream + request.path, content=request.body, headers=headers
        )
        kept = {k.lower(): v for k, v in response.headers.items() if k.lower() in FORWARDED}
        return Answer(response.status_code, kept, response.content)

    # The server.

    def handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        if handler.path.startswith("/_callback"):
            self.pass_callback(handler.path, body)
            self.write(handler, Answer(202, {"content-type": "application/json"}, b"{}"))
            return
        if not handler.path.startswith(self.prefix):
            self.write(handler, Answer(404, {}, b"not under the base path"))
            return
        request = Request(method, handler.path.removeprefix(self.prefix) or "/", headers, body)
        if self.breakage.rewrites_callbacks:
            request = self.callbacks_to_me(request)
        try:
            changed = self.breakage.request(self, request)
            answer = changed if isinstance(changed, Answer) else self.forward(changed)
            if isinstance(changed, Request):
                answer = self.breakage.response(self, changed, answer)
            self.write(handler, answer)
        except (OSError, httpx.HTTPError):
            pass  # the check gave up waiting (a partner too slow), or the proxy is closing

    def write(self, handler: BaseHTTPRequestHandler, answer: Answer) -> None:
        handler.send_response(answer.status)
        for name, value in answer.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(answer.body)))
        handler.end_headers()
        handler.wfile.write(answer.body)

    def callbacks_to_me(self, request: Request) -> Request:
        """A rights request that tillit signed, calling back through this proxy."""
        if (request.method, request.path) != ("POST", "/opendsr/v2/requests"):
            return request
        if not self.verifies(request.body, request.headers.get("tillit-signature"), "dsr"):
            return request
        data = request.json()
        data["status_callback_urls"] = [
            f"{self.url}/_callback?to={quote(url, safe='')}" for url in data["status_callback_urls"]
        ]
        return self.resigned(request, json.dumps(data, sort_keys=True).encode())

    def pass_callback(self, path: str, body: bytes) -> None:
        original = parse_qs(urlsplit(path).query)["to"][0]
        passed = self.breakage.callback(self, json.loads(body), original)
        if passed is None:
            return
        raw, signature = passed
        headers = {"Content-Type": "application/json"}
        if signature:
            headers["Tillit-Signature"] = signature
        self.http.post(original, content=raw, headers=headers)
