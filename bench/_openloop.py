"""The open-loop client of bench/soak.py, and the latency figures of what it sent.

Jobs (what to POST, where, and when it was due) go to a pool of threads, each with one
kept-alive connection per port; every answer (or socket error) is kept as a `Sample`. The
`Confirmer` reads each new confirmation e-mail the site writes as a file and queues the POST
that confirms it, as the person's click would. `summarise` turns samples into counts and
percentiles, from the moment a request was sent and from the moment it was due.
"""

from __future__ import annotations

import http.client
import os
import queue
import quopri
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

LINK = re.compile(rb"/(?:[a-z]{2}/)?confirm/[A-Za-z0-9_\-:.]+/")


@dataclass
class Sample:
    kind: str  # "signup" or "confirm"
    due: float
    sent: float
    done: float
    status: int  # 0: no answer (socket error)
    error: str = ""


@dataclass
class Load:
    """The open-loop client: jobs (due time, port, path, body) go to a pool of threads."""

    ports: list[int]
    cookie: str
    threads: int
    samples: list[Sample] = field(default_factory=list)
    jobs: queue.Queue = field(default_factory=queue.Queue)
    max_send_lag: float = 0.0
    stale_retries: int = 0

    def start(self) -> None:
        self.pool = [
            threading.Thread(target=self._run, name=f"client-{n}", daemon=True)
            for n in range(self.threads)
        ]
        for t in self.pool:
            t.start()

    def stop(self) -> None:
        for _ in self.pool:
            self.jobs.put(None)
        for t in self.pool:
            t.join(timeout=60)

    def _run(self) -> None:
        conns: dict[int, http.client.HTTPConnection] = {}
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={self.cookie}",
        }
        while (job := self.jobs.get()) is not None:
            kind, due, port, path, body = job
            sent = time.monotonic()
            self.max_send_lag = max(self.max_send_lag, sent - due)
            status, error = self._send(conns, headers, port, path, body)
            self.samples.append(Sample(kind, due, sent, time.monotonic(), status, error))

    def _send(
        self,
        conns: dict[int, http.client.HTTPConnection],
        headers: dict[str, str],
        port: int,
        path: str,
        body: str,
    ) -> tuple[int, str]:
        """POST body to path on port, on this thread's kept-alive connection to it if there
        is one: (status, 0 if no answer; the error's name, if any)."""
        status, error = 0, ""
        for attempt in (1, 2):
            reused = port in conns
            conn = conns.pop(port, None) or http.client.HTTPConnection(
                "127.0.0.1", port, timeout=30
            )
            try:
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status, error = response.status, ""
                if response.will_close:
                    conn.close()
                else:
                    conns[port] = conn
                break
            except (
                ConnectionResetError,
                BrokenPipeError,
                http.client.RemoteDisconnected,
            ) as exc:
                # On a kept-alive connection, most likely one the server closed while it
                # sat idle: the request never reached the application. Browsers and HTTP
                # libraries send it again on a new connection; so does this client, once
                # (and counts it).
                conn.close()
                error = type(exc).__name__
                if reused and attempt == 1:
                    self.stale_retries += 1
                    continue
                break
            except (OSError, http.client.HTTPException) as exc:
                error = type(exc).__name__
                conn.close()
                break
        return status, error


class Confirmer(threading.Thread):
    """Reads each new confirmation e-mail, takes its link and queues the confirming POST."""

    def __init__(self, mail_dir: Path, load: Load, token: str) -> None:
        super().__init__(name="confirmer", daemon=True)
        self.mail_dir, self.load, self.token = mail_dir, load, token
        self.read_dir = mail_dir.parent / "mail-read"
        self.read_dir.mkdir(parents=True, exist_ok=True)
        self.queued = 0
        self.no_link: list[str] = []
        self.running = True
        self.body = urlencode({"csrfmiddlewaretoken": token})

    def run(self) -> None:
        while self.running:
            self.step()
            time.sleep(0.1)

    def step(self) -> None:
        try:
            entries = list(os.scandir(self.mail_dir))
        except FileNotFoundError:
            return
        for entry in entries:
            if not entry.name.endswith(".eml"):
                continue
            # The text part is quoted-printable: undo it before looking for the link.
            match = LINK.search(quopri.decodestring(Path(entry.path).read_bytes()))
            if match is None:
                # Perhaps still being written; give up on it after a few seconds.
                if time.time() - entry.stat().st_mtime > 5:
                    self.no_link.append(entry.name)
                    os.rename(entry.path, self.read_dir / entry.name)
                continue
            port = self.load.ports[self.queued % len(self.load.ports)]
            self.load.jobs.put(
                ("confirm", time.monotonic(), port, match.group(0).decode(), self.body)
            )
            self.queued += 1
            # Read ones move aside, so each scan sees only the new ones.
            os.rename(entry.path, self.read_dir / entry.name)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(p / 100 * len(values) + 0.5) - 1))]


def summarise(samples: list[Sample], kind: str) -> dict:
    mine = [s for s in samples if s.kind == kind]
    ok = [s for s in mine if 200 <= s.status < 400]
    service = [(s.done - s.sent) * 1000 for s in mine if s.status]
    from_due = [(s.done - s.due) * 1000 for s in mine if s.status]
    return {
        "sent": len(mine),
        "ok": len(ok),
        "3xx": sum(1 for s in mine if 300 <= s.status < 400),
        "bad": sum(1 for s in mine if s.status and not 200 <= s.status < 400),
        "socket": sum(1 for s in mine if not s.status),
        "p50": pct(service, 50),
        "p99": pct(service, 99),
        "max": max(service, default=float("nan")),
        "due_p50": pct(from_due, 50),
        "due_p99": pct(from_due, 99),
        "statuses": sorted({s.status for s in mine if not 200 <= s.status < 400}),
        "errors": sorted({s.error for s in mine if s.error}),
    }
