"""The callback listener: a small HTTP server, in a thread, that keeps the status callbacks a
partner sends while it is checked (OpenDSR: a POST to each status_callback_url on every
change of status). It answers as tillit does: 202 to a callback signed `dsr-callback` with a
secret held, 401 to anything else."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATH = "/partner-check/callback"
MAX_BODY = 65_536


@dataclass(frozen=True)
class Callback:
    path: str
    signature: str | None
    body: bytes


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    listener: Listener


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:  # noqa: N802  (http.server's name)
        try:
            length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
        except ValueError:
            length = 0
        body = self.rfile.read(length)
        callback = Callback(self.path, self.headers.get("Tillit-Signature"), body)
        accepted = self.server.listener.keep(callback)
        answer = b'{"accepted":true}' if accepted else b'{"error":"signature missing or invalid"}'
        self.send_response(202 if accepted else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # the report says what arrived


class Listener:
    """Listens on (host, port); port 0 takes a free one. `url` is where it is reached on this
    machine; `verified` tells whether a callback is signed as it must be."""

    def __init__(self, host: str, port: int, verified: Callable[[Callback], bool]) -> None:
        self.verified = verified
        self.callbacks: list[Callback] = []
        self._changed = threading.Condition()
        server_class = _Server
        if ":" in host:
            server_class = type("_Server6", (_Server,), {"address_family": socket.AF_INET6})
        self.server = server_class((host, port), _Handler)
        self.server.listener = self
        self.host, self.port = host, self.server.server_address[1]
        # A short poll: close() waits for the loop to notice, once a check is over.
        self.thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="partner-check-callbacks",
            daemon=True,
        )
        self.thread.start()

    @property
    def url(self) -> str:
        """The listener's URL on this machine (listening on every address, it is reached at
        the loopback one)."""
        everywhere = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104
        host = everywhere.get(self.host, self.host)
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}{PATH}"

    def keep(self, callback: Callback) -> bool:
        with self._changed:
            self.callbacks.append(callback)
            self._changed.notify_all()
        return self.verified(callback)

    def wait(self, done: Callable[[list[Callback]], bool], timeout: float) -> list[Callback]:
        """The callbacks so far, once `done` says they are enough or `timeout` has passed."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not done(list(self.callbacks)):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            return list(self.callbacks)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
