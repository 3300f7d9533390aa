"""A fault campaign across real processes: tillit as deployed, under load, while faults land at
random (seeded) moments; then, from the databases of both sides, what was kept and what was not.

Deployed as an operator would: two `tillit web` processes behind a small TCP load balancer (it
stands for nginx: a connection goes to the next web process that takes it), one `tillit worker`,
and the reference partner as its own process with its own store (SQLite in its own directory),
on a PostgreSQL server of the campaign's own (initdb in a temporary directory, its own port and
socket directory), so that it can be restarted without touching anyone else's. A supervisor
thread restarts whatever dies, one second later, as systemd's Restart=always would.

The load is steady: --rate sign-ups a second through the load balancer (each a new person with
canary values in the name, the address and a field the form does not declare; a person whose
sign-up got no answer or a 5xx presses again, up to four times), each confirmed by POSTing the
link of its confirmation e-mail (the site runs in demo mode: e-mails are files), and a rights
request (access or restriction, proven with the code from its e-mail) every --rights-every
seconds from someone who confirmed.

The faults, one at a time, a random gap apart, each kind once per shuffled round:
  kill_web, kill_worker, kill_partner  SIGKILL of the process group; the supervisor restarts it
                                       (the killed worker's leases are expired at once: that
                                       stands for the 60 s another worker would wait out);
  pg_restart                           `pg_ctl restart -m immediate` or `-m fast`;
  partner_slow, partner_500,           a proxy in front of the partner answers late (1-14 s,
  partner_drop                         past the 10 s delivery timeout too), with HTTP 500, or
                                       drops the connection (before the request, or after the
                                       partner has stored the lead and before its answer);
  disk_readonly, disk_full             tillit's data directory (keys, the e-mail spool) is on a
                                       tmpfs of its own, remounted read-only, then filled up;
  pg_disk_full                         PostgreSQL's data directory is on a tmpfs of its own,
                                       filled up (the database is the data disk that matters
                                       on PostgreSQL; a running server keeps its files open for
                                       writing, so the kernel refuses to remount it read-only).
The disk faults and the campaign's own PostgreSQL need root (mount, runuser); without it they
are skipped, said so, and the shared server at 127.0.0.1:5432 gets a throwaway database.

At the end the load stops, every fault is undone, the retries waiting out a back-off are made
due (that stands for waiting), the worker drains (bounded by --drain), and the checks run:
every sign-up answered 302 is a person in tillit's database; every confirmation answered 200 is
one lead at the partner (by address and by lead id) and one delivered delivery; no intake or
lead envelope is lost or kept past delivery; every rights request accepted is recorded and
answered; `tillit audit verify` passes; no canary in any table, in PostgreSQL's files, in
tillit's data directory (the e-mail spool, which stands for the people's inboxes, aside) or in
the logs. Printed: accepted, delivered, duplicated, lost, faults by kind (--json: one JSON
document on stdout). The exit status is 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import email
import email.policy
import email.utils
import glob
import json
import os
import pwd
import queue
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx

import _common as c
from _wrk import csrf_pair

KINDS = [
    "kill_web",
    "kill_worker",
    "kill_partner",
    "pg_restart",
    "partner_slow",
    "partner_500",
    "partner_drop",
    "disk_readonly",
    "disk_full",
    "pg_disk_full",
]
LINK = re.compile(r"/(?:[a-z]{2}/)?confirm/[A-Za-z0-9_\-:.]+/")
CODE = re.compile(r"\b(\d{6})\b")
REFERENCE = re.compile(r"R-[0-9A-F]{4}-[0-9A-F]{4}")
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
RESTART_DELAY = 1.0
OUT = sys.stdout  # the human report; stderr when --json takes stdout


def say(text: str) -> None:
    print(text, file=OUT, flush=True)


# --- PostgreSQL of the campaign's own ---------------------------------------------------------


def postgres_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class Disk:
    """A tmpfs of its own at `path`: remounted read-only and back, filled up and freed."""

    def __init__(self, path: Path, size: str, owner: str = "") -> None:
        self.path, self.size, self.owner = path, size, owner
        self.filler = path / "filler"
        self.error = ""

    def mount(self) -> bool:
        """False when the kernel refuses (not root, or a container without CAP_SYS_ADMIN)."""
        self.path.mkdir(parents=True, exist_ok=True)
        options = f"size={self.size},mode=0755"
        if self.owner:
            entry = pwd.getpwnam(self.owner)
            options += f",uid={entry.pw_uid},gid={entry.pw_gid},mode=0700"
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(self.path)], capture_output=True
        )
        if done.returncode:
            self.error = done.stderr.decode(errors="replace").strip()
            return False
        c.on_exit(self.umount)
        return True

    def umount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=False, capture_output=True)

    def readonly(self, timeout: float = 3.0) -> bool:
        """Remount read-only; the kernel refuses (EBUSY) while a file is open for writing, so
        try again for a while."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = subprocess.run(
                ["mount", "-o", "remount,ro", str(self.path)], capture_output=True
            )
            if done.returncode == 0:
                return True
            time.sleep(0.05)
        return False

    def writable(self) -> None:
        subprocess.run(["mount", "-o", "remount,rw", str(self.path)], check=True)

    def fill(self) -> int:
        written = 0
        with open(self.filler, "wb") as out:
            block = b"\0" * (1 << 20)
            try:
                while True:
                    out.write(block)
                    out.flush()
                    written += len(block)
            except OSError:
                pass
        return written

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)


class Cluster:
    """initdb in a directory of its own (on its own tmpfs when root), its own port and socket
    directory; as tests/e2e/test_outages.py's Cluster, with restarts and a disk to fill."""

    def __init__(self, bindir: Path, root: Path, disk_size: str) -> None:
        self.bindir = bindir
        self.disk = Disk(root / "pg-disk", disk_size, owner="postgres")
        self.data = self.disk.path / "data"
        self.sockets = root / "pg-run"
        self.log = self.sockets / "server.log"
        self.port = c.free_port()
        self.lock = threading.Lock()
        self.held = False
        self.restarts_by_supervisor = 0

    def url(self, db: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def _pg(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["runuser", "-u", "postgres", "--", *args], capture_output=True, timeout=timeout
        )

    def init(self) -> None:
        self.on_disk = self.disk.mount()
        if not self.on_disk:
            self.disk.path.mkdir(exist_ok=True)
            shutil.chown(self.disk.path, "postgres", "postgres")
            self.disk.path.chmod(0o700)
        self.sockets.mkdir()
        shutil.chown(self.sockets, "postgres", "postgres")
        done = self._pg(
            str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
            "--no-sync",
        )  # fmt: skip
        if done.returncode:
            raise SystemExit(f"initdb failed: {done.stderr.decode()}")
        c.on_exit(lambda: self.stop("immediate"))
        self.start()
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE tillit")

    def options(self) -> str:
        return (
            f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 "
            "-c max_wal_size=64MB -c min_wal_size=32MB -c max_connections=100"
        )

    def start(self) -> bool:
        done = self._pg(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", self.options(),
            "-l", str(self.log), "-w", "-t", "60", "start",
        )  # fmt: skip
        return done.returncode == 0

    def stop(self, mode: str = "fast") -> None:
        self._pg(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, mode: str) -> bool:
        done = self._pg(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-o", self.options(),
            "-l", str(self.log), "-w", "-t", "60", "restart",
        )  # fmt: skip
        return done.returncode == 0

    def running(self) -> bool:
        return self._pg(str(self.bindir / "pg_ctl"), "-D", str(self.data), "status").returncode == 0


# --- TCP proxies: the load balancer in front of the web processes, and the partner's faults ----


RESPONSE_500 = (
    b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 21\r\nConnection: close\r\n\r\ninjected fault: 500\r\n"
)


class Proxy:
    """Listens on `port`; each connection goes to the first of `upstreams()` (round robin) that
    takes it. `mode` (pass, slow, error500, drop) is read for each chunk a client sends."""

    def __init__(self, name: str, upstreams: Callable[[], list[int]], rng: random.Random) -> None:
        self.name, self.upstreams, self.rng = name, upstreams, rng
        self.port = c.free_port()
        self.mode = "pass"
        self.turn = 0
        self.seen: Counter[str] = Counter()

    async def serve(self) -> None:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", self.port, backlog=512)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ports = self.upstreams()
        self.turn += 1
        upstream = None
        for k in range(len(ports)):
            try:
                upstream = await asyncio.open_connection(
                    "127.0.0.1", ports[(self.turn + k) % len(ports)]
                )
                break
            except OSError:
                continue
        if upstream is None:
            self.seen["no upstream"] += 1
            writer.close()
            return
        state = {"cut": False, "slow": 0.0}
        tasks = [
            asyncio.create_task(self.forward(reader, upstream[1], writer, state)),
            asyncio.create_task(self.back(upstream[0], writer, state)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        for w in (writer, upstream[1]):
            try:
                w.close()
            except Exception:  # noqa: S110 - the peer is gone already
                pass

    async def forward(self, reader, upstream, client, state) -> None:  # noqa: ANN001
        while data := await reader.read(65536):
            mode = self.mode
            if mode == "error500":
                self.seen["answered 500"] += 1
                client.write(RESPONSE_500)
                await client.drain()
                return
            if mode == "drop":
                if self.rng.random() < 0.5:
                    self.seen["dropped before the request"] += 1
                    return
                self.seen["dropped before the answer"] += 1
                state["cut"] = True
            if mode == "slow":
                state["slow"] = self.rng.uniform(1, 14)
                self.seen["slowed"] += 1
            upstream.write(data)
            await upstream.drain()

    async def back(self, upstream, client, state) -> None:  # noqa: ANN001
        while data := await upstream.read(65536):
            if state["cut"]:
                return
            if state["slow"]:
                delay, state["slow"] = state["slow"], 0.0
                await asyncio.sleep(delay)
            client.write(data)
            await client.drain()


class Proxies:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="proxies", daemon=True).start()

    def add(self, proxy: Proxy) -> Proxy:
        asyncio.run_coroutine_threadsafe(proxy.serve(), self.loop).result(10)
        return proxy


# --- the processes and their supervisor ---------------------------------------------------------


@dataclass
class Service:
    name: str
    argv: list[str]
    env: dict[str, str]
    port: int = 0
    proc: c.Proc | None = None
    killed: int = 0
    restarts: int = 0
    unexpected: list[int] = field(default_factory=list)  # exit codes we did not cause
    down_since: float = 0.0


class Supervisor(threading.Thread):
    def __init__(self, services: list[Service], logdir: Path, pg: Cluster | None) -> None:
        super().__init__(name="supervisor", daemon=True)
        self.services, self.logdir, self.pg = services, logdir, pg
        self.lock = threading.Lock()
        self.running = True

    def start_service(self, s: Service) -> None:
        s.proc = c.PROCS.start(s.name, s.argv, s.env, self.logdir)
        s.down_since = 0.0

    def kill(self, s: Service) -> None:
        with self.lock:
            if s.proc is None:
                return
            c._signal_group(s.proc.popen.pid, signal.SIGKILL)
            c.PROCS.stop(s.proc, grace=2)
            s.proc, s.killed, s.down_since = None, s.killed + 1, time.monotonic()

    def run(self) -> None:
        last_pg = 0.0
        while self.running:
            with self.lock:
                for s in self.services:
                    self.watch(s)
            if self.pg and time.monotonic() - last_pg > 1 and not self.pg.held:
                last_pg = time.monotonic()
                if self.pg.lock.acquire(blocking=False):
                    try:
                        if not self.pg.running():
                            self.pg.restarts_by_supervisor += 1
                            self.pg.start()
                    finally:
                        self.pg.lock.release()
            time.sleep(0.2)

    def watch(self, s: Service) -> None:
        if s.proc is not None and s.proc.popen.poll() is not None:
            s.unexpected.append(s.proc.popen.returncode)
            c.PROCS.stop(s.proc, grace=1)
            s.proc, s.down_since = None, time.monotonic()
        if s.proc is None and time.monotonic() - s.down_since >= RESTART_DELAY:
            s.restarts += 1
            self.start_service(s)

    def alive(self) -> bool:
        return all(s.proc is not None and s.proc.popen.poll() is None for s in self.services)


# --- e-mail: the demo outbox, read as the people's inboxes -------------------------------------


class Mailbox(threading.Thread):
    """Reads each new e-mail file once; confirmation links go to `on_link`, the rest is kept by
    address for the rights flow (its codes)."""

    def __init__(self, mail_dir: Path, on_link: Callable[[str, str], None]) -> None:
        super().__init__(name="mailbox", daemon=True)
        self.mail_dir, self.on_link = mail_dir, on_link
        self.seen: set[str] = set()
        self.by_address: dict[str, list[tuple[str, str]]] = {}
        self.lock = threading.Condition()
        self.running = True
        self.linked: set[str] = set()  # addresses that got a confirmation link

    def run(self) -> None:
        while self.running:
            try:
                self.scan()
            except OSError:
                pass  # the disk is being faulted: read it next time
            time.sleep(0.2)

    def scan(self) -> None:
        try:
            names = [e.name for e in os.scandir(self.mail_dir) if e.name.endswith(".eml")]
        except FileNotFoundError:
            return
        for name in sorted(set(names) - self.seen):
            raw = (self.mail_dir / name).read_bytes()
            message = email.message_from_bytes(raw, policy=email.policy.default)
            body = message.get_body(("plain",))
            if body is None:
                if time.time() - (self.mail_dir / name).stat().st_mtime < 5:
                    continue  # still being written
                self.seen.add(name)
                continue
            self.seen.add(name)
            text = str(body.get_content())
            to = [a for _, a in email.utils.getaddresses([str(message["To"])])]
            with self.lock:
                for address in to:
                    self.by_address.setdefault(address, []).append((str(message["Subject"]), text))
                self.lock.notify_all()
            link = LINK.search(text)
            if link:
                self.linked.update(to)
                for address in to:
                    self.on_link(address, link.group(0))

    def count(self, address: str) -> int:
        with self.lock:
            return len(self.by_address.get(address, []))

    def wait_code(self, address: str, after: int, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        with self.lock:
            while time.monotonic() < deadline:
                for _, text in self.by_address.get(address, [])[after:]:
                    found = CODE.search(text)
                    if found and not LINK.search(text):
                        return found.group(1)
                self.lock.wait(0.5)
        return None


# --- the load ---------------------------------------------------------------------------------


def canary(run: str) -> dict[str, str]:
    """What every sign-up carries: recognisable, shared by all, never kept by the operator."""
    return {
        "name": f"Åse Kanarifeil{run}",
        "email": f"kanari.{run}",
        "undeclared": f"Kanarimor{run}",
    }


@dataclass
class Tally:
    signups_sent: int = 0
    accepted: set[str] = field(default_factory=set)
    refused: Counter[str] = field(default_factory=Counter)  # the last answer of those given up
    retries: int = 0
    confirmed: set[str] = field(default_factory=set)
    confirm_unsure: set[str] = field(default_factory=set)  # no answer, then 400: perhaps done
    confirm_failed: Counter[str] = field(default_factory=Counter)
    rights: list[tuple[str, str, str]] = field(default_factory=list)  # reference, address, kind
    rights_failed: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Load:
    def __init__(self, args: argparse.Namespace, base: str, run: str, mailbox_dir: Path) -> None:
        self.args, self.base, self.run = args, base, run
        self.canary = canary(run)
        self.cookie, self.token = csrf_pair(base)
        self.tally = Tally()
        self.jobs: queue.Queue = queue.Queue()
        self.confirms: queue.Queue = queue.Queue()
        self.running = True
        self.rng = random.Random(f"{args.seed}-load")
        self.mailbox = Mailbox(mailbox_dir, lambda a, link: self.confirms.put((a, link, 0)))
        self.threads: list[threading.Thread] = []

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base, timeout=20, cookies={"csrftoken": self.cookie}, trust_env=False
        )

    def start(self) -> None:
        self.mailbox.start()
        targets = [self.schedule, self.rights_loop]
        targets += [self.signup_worker] * self.args.clients + [self.confirm_worker] * 2
        for n, target in enumerate(targets):
            t = threading.Thread(target=target, name=f"load-{n}", daemon=True)
            t.start()
            self.threads.append(t)

    def stop(self, timeout: float = 60) -> None:
        self.running = False
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
        self.mailbox.running = False

    def schedule(self) -> None:
        t0, i = time.monotonic(), 0
        while self.running:
            due = t0 + i / self.args.rate
            if due > time.monotonic():
                time.sleep(min(0.05, due - time.monotonic()))
                continue
            self.jobs.put(i)
            i += 1
        for _ in range(self.args.clients):
            self.jobs.put(None)

    def form(self, i: int) -> dict[str, str]:
        return {
            "csrfmiddlewaretoken": self.token,
            "name": f"{self.canary['name']} {i}",
            "email": f"{self.canary['email']}.{i}@example.com",
            "phone": "",
            "country": "NO",
            "consent_partner": "on",
            "mother_maiden_name": self.canary["undeclared"],
        }

    def signup_worker(self) -> None:
        with self.client() as http:
            while (i := self.jobs.get()) is not None:
                self.sign_up(http, i)

    def sign_up(self, http: httpx.Client, i: int) -> None:
        form = self.form(i)
        with self.tally.lock:
            self.tally.signups_sent += 1
        last = ""
        for attempt in range(4):
            if attempt:
                with self.tally.lock:
                    self.tally.retries += 1
                time.sleep(1)
            try:
                answer = http.post("/", data=form)
            except httpx.HTTPError as error:
                last = type(error).__name__
                continue
            if answer.status_code == 302:
                with self.tally.lock:
                    self.tally.accepted.add(form["email"])
                return
            last = f"HTTP {answer.status_code}"
            if answer.status_code < 500:
                break
        with self.tally.lock:
            self.tally.refused[last] += 1

    def confirm_worker(self) -> None:
        with self.client() as http:
            while self.running or not self.confirms.empty():
                try:
                    address, path, tries = self.confirms.get(timeout=0.5)
                except queue.Empty:
                    continue
                self.confirm(http, address, path, tries)

    def confirm(self, http: httpx.Client, address: str, path: str, tries: int) -> None:
        try:
            answer = http.post(path, data={"csrfmiddlewaretoken": self.token})
            status = answer.status_code
        except httpx.HTTPError:
            status = 0
        with self.tally.lock:
            if status == 200:
                self.tally.confirmed.add(address)
                return
            if status == 400:
                if tries and address not in self.tally.confirmed:
                    self.tally.confirm_unsure.add(address)
                elif address not in self.tally.confirmed:
                    self.tally.confirm_failed["HTTP 400"] += 1
                return
        if tries < 3 and self.running:
            time.sleep(1)
            self.confirms.put((address, path, tries + 1))
        else:
            with self.tally.lock:
                self.tally.confirm_failed[f"HTTP {status}" if status else "no answer"] += 1

    def rights_loop(self) -> None:
        n = 0
        while self.running:
            time.sleep(self.args.rights_every)
            with self.tally.lock:
                people = sorted(self.tally.confirmed)
            if not people or not self.running:
                continue
            kind = ("access", "restriction")[n % 2]
            n += 1
            address = self.rng.choice(people)
            try:
                outcome = self.rights_request(address, kind)
            except (httpx.HTTPError, AttributeError, KeyError) as error:
                outcome = type(error).__name__
            with self.tally.lock:
                if outcome.startswith("R-"):
                    self.tally.rights.append((outcome, address, kind))
                else:
                    self.tally.rights_failed[outcome] += 1

    def rights_request(self, address: str, kind: str) -> str:
        """The privacy centre as a person uses it: ask, prove the code, confirm. The reference
        the person is shown, or what went wrong."""
        with httpx.Client(base_url=self.base, timeout=20, trust_env=False) as http:
            before = self.mailbox.count(address)
            started = post_form(http, "/privacy/", {"kind": kind, "email": address})
            if started.status_code != 302:
                return f"ask: HTTP {started.status_code}"
            code = self.mailbox.wait_code(address, before, 30)
            if code is None:
                return "no code e-mail"
            checked = post_form(http, started.headers["location"], {"code": code})
            if checked.status_code != 302:
                return f"code: HTTP {checked.status_code}"
            done = post_form(http, checked.headers["location"], {})
            if done.status_code != 302:
                return f"confirm: HTTP {done.status_code}"
            for _ in range(4):
                try:
                    page = http.get(done.headers["location"])
                    found = REFERENCE.search(page.text)
                    if found:
                        return found.group(0)
                except httpx.HTTPError:
                    pass
                time.sleep(1)
            return "accepted, reference not shown"


def post_form(http: httpx.Client, path: str, data: dict[str, str]) -> httpx.Response:
    page = http.get(path)
    token = CSRF.search(page.text)
    if token is None:
        raise KeyError(f"no form at {path} (HTTP {page.status_code})")
    return http.post(path, data={**data, "csrfmiddlewaretoken": token.group(1)})


# --- the faults ---------------------------------------------------------------------------------


@dataclass
class Site:
    env: dict[str, str]
    db_url: str
    webs: list[Service]
    worker: Service
    partner: Service
    partner_proxy: Proxy
    supervisor: Supervisor
    pg: Cluster | None
    disk: Disk | None


def sql(db_url: str, query: str, *params: object) -> list[tuple]:
    import psycopg

    with psycopg.connect(db_url, autocommit=True, connect_timeout=5) as conn:
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else [(cursor.rowcount,)]


@dataclass
class Fault:
    kind: str
    at: float
    seconds: float
    note: str = ""


class Campaign:
    def __init__(self, site: Site, kinds: list[str], rng: random.Random, t0: float) -> None:
        self.site, self.kinds, self.rng, self.t0 = site, kinds, rng, t0
        self.faults: list[Fault] = []

    def run(self, seconds: float, gap: tuple[float, float]) -> None:
        end = self.t0 + seconds
        round_: list[str] = []
        while True:
            time.sleep(max(0.0, min(self.rng.uniform(*gap), end - time.monotonic())))
            if time.monotonic() >= end - 2:
                return
            if not round_:
                round_ = list(self.kinds)
                self.rng.shuffle(round_)
            kind = round_.pop()
            hold = min(self.rng.uniform(2, 6), max(1.0, end - time.monotonic() - 1))
            started = time.monotonic()
            note = getattr(self, kind)(hold)
            self.faults.append(Fault(kind, started - self.t0, time.monotonic() - started, note))
            say(f"# {started - self.t0:6.1f}s  {kind:<14} {note}")

    def kill_web(self, hold: float) -> str:
        web = self.rng.choice(self.site.webs)
        self.site.supervisor.kill(web)
        return web.name

    def kill_worker(self, hold: float) -> str:
        self.site.supervisor.kill(self.site.worker)
        try:
            n = sql(
                self.site.db_url,
                "UPDATE partners_delivery SET lease_expires_at = now() - interval '1 second'"
                " WHERE state = 'leased'",
            )[0][0]
        except Exception as error:
            return f"its leases not expired ({type(error).__name__})"
        return f"{n} leases expired"

    def kill_partner(self, hold: float) -> str:
        self.site.supervisor.kill(self.site.partner)
        return ""

    def pg_restart(self, hold: float) -> str:
        mode = self.rng.choice(["immediate", "fast"])
        with self.site.pg.lock:
            ok = self.site.pg.restart(mode)
        return f"-m {mode}" + ("" if ok else " (restart failed; the supervisor starts it)")

    def _partner_mode(self, mode: str, hold: float) -> str:
        self.site.partner_proxy.mode = mode
        time.sleep(hold)
        self.site.partner_proxy.mode = "pass"
        return f"{hold:.1f}s"

    def partner_slow(self, hold: float) -> str:
        return self._partner_mode("slow", hold)

    def partner_500(self, hold: float) -> str:
        return self._partner_mode("error500", hold)

    def partner_drop(self, hold: float) -> str:
        return self._partner_mode("drop", hold)

    def disk_readonly(self, hold: float) -> str:
        disk = self.site.disk
        if not disk.readonly():
            return "the kernel kept it writable (a file open for writing throughout)"
        time.sleep(hold)
        disk.writable()
        return f"{hold:.1f}s"

    def disk_full(self, hold: float) -> str:
        written = self.site.disk.fill()
        time.sleep(hold)
        self.site.disk.free()
        return f"{hold:.1f}s ({written >> 20} MB to fill it)"

    def pg_disk_full(self, hold: float) -> str:
        pg = self.site.pg
        written = pg.disk.fill()
        time.sleep(hold)
        pg.disk.free()
        return f"{hold:.1f}s ({written >> 20} MB to fill it)"


# --- setting it up ------------------------------------------------------------------------------


def set_up(args: argparse.Namespace, work: Path, logdir: Path) -> tuple[Site, list[str]]:
    """The site as deployed, and the faults that cannot be injected here (with why)."""
    skipped = []
    root = os.geteuid() == 0
    bindir = postgres_bindir()
    pg = None
    try:
        pwd.getpwnam("postgres")
        has_postgres_user = True
    except KeyError:
        has_postgres_user = False
    if root and bindir and shutil.which("runuser") and has_postgres_user:
        # Room for the cluster (~70 MB with its WAL) and what the run writes, with margin.
        pg = Cluster(bindir, work, f"{256 + int(args.seconds * 0.75)}m")
        pg.init()
        db_url = pg.url("tillit")
        if not pg.on_disk:
            skipped.append(f"pg_disk_full: mounting a tmpfs failed ({pg.disk.error})")
    else:
        skipped.append(
            "pg_restart, pg_disk_full: need root, runuser, a postgres user and PostgreSQL's "
            "server binaries for a server of the campaign's own (the shared one at "
            "127.0.0.1:5432 gets a throwaway database and is never restarted)"
        )
        db_url = c.create_pg_database()[1]
    disk = Disk(work / "disk", "256m")
    if root and disk.mount():
        data_dir = disk.path / "tillit"
    else:
        why = disk.error if root else "not root"
        skipped.append(f"disk_readonly, disk_full: mounting a tmpfs failed ({why})")
        disk, data_dir = None, work / "tillit"
    data_dir.mkdir()
    env = c.make_env(data_dir, db_url)
    env.update(
        {
            "TILLIT_RIGHTS_CODES_PER_IP_PER_HOUR": "1000000",
            "TILLIT_RIGHTS_CHECKS_PER_IP_PER_HOUR": "1000000",
            "TILLIT_RIGHTS_CODES_PER_ADDRESS_PER_HOUR": "1000000",
        }
    )
    partner_dir = work / "partner"  # the partner's own machine: not on tillit's disk
    webs = [Service(f"web{n + 1}", [], env, port=c.free_port()) for n in range(2)]
    partner = Service("partner", [], {}, port=c.free_port())
    proxies = Proxies()
    lb = proxies.add(
        Proxy("load balancer", lambda: [w.port for w in webs if w.proc], random.Random(0))
    )
    partner_proxy = proxies.add(
        Proxy("partner", lambda: [partner.port], random.Random(f"{args.seed}-proxy"))
    )
    env["TILLIT_SITE_URL"] = f"http://127.0.0.1:{lb.port}"
    c.run_init(env, partner_port=partner_proxy.port, logdir=logdir)
    shutil.copytree(data_dir / "demo" / "partner", partner_dir)
    partner.env = {**env, "PARTNER_DATA_DIR": str(partner_dir)}
    partner.argv = [*c.TILLIT, "reference-partner", "--port", str(partner.port)]
    for w in webs:
        w.argv = [*c.TILLIT, "web", "--port", str(w.port), "--no-migrate"]
        w.argv += ["--workers", "1", "--threads", "2"]
    worker = Service("worker", [*c.TILLIT, "worker"], env)
    services = [partner, *webs, worker]
    supervisor = Supervisor(services, logdir, pg)
    for s in services:
        supervisor.start_service(s)
        if s.port:
            c.wait_http(f"http://127.0.0.1:{s.port}/healthz", s.proc)
    supervisor.start()
    site = Site(env, db_url, webs, worker, partner, partner_proxy, supervisor, pg, disk)
    site.lb = lb  # type: ignore[attr-defined]
    site.data_dir, site.partner_dir = data_dir, partner_dir  # type: ignore[attr-defined]
    return site, skipped


# --- the end: drain, then the checks ------------------------------------------------------------

WORK_LEFT = {
    "intakes waiting": "select count(*) from vault_envelope where purpose = 'intake'",
    "deliveries queued": "select count(*) from partners_delivery"
    " where state in ('pending', 'leased')",
    "rights requests open": "select count(*) from rights_rightsrequest"
    " where state in ('received', 'in_progress')",
    "e-mail jobs waiting": "select count(*) from django_tasks_database_dbtaskresult"
    " where status = 'READY'",
    "e-mail jobs running": "select count(*) from django_tasks_database_dbtaskresult"
    " where status = 'RUNNING'",
    # Those retry_failed_mail (subjects/retention.py) will make ready again.
    "e-mail jobs to try again": "select count(*) from django_tasks_database_dbtaskresult"
    " where status = 'FAILED' and exception_class_path = 'tillit.core.mail.MailNotSent'"
    " and strpos(traceback, 'not one plain address') = 0",
}


def drain(site: Site, timeout: float) -> tuple[float, dict[str, int]]:
    """Let the worker finish. Retries waiting out a back-off are made due: that stands for
    waiting (the partner is back, as the worker's own bring-forward would find)."""
    t0 = time.monotonic()
    left: dict[str, int] = {}
    while time.monotonic() - t0 < timeout:
        try:
            sql(
                site.db_url,
                "UPDATE partners_delivery SET next_attempt_at = now()"
                " WHERE state = 'pending' AND next_attempt_at > now()",
            )
            sql(
                site.db_url,
                "UPDATE rights_partnertask SET next_attempt_at = now()"
                " WHERE state in ('waiting', 'pending') AND next_attempt_at > now()",
            )
            # A job a killed worker left running waits out STRANDED_JOB_AGE (15 minutes) at
            # once: no send takes 30 s (the SMTP timeout is 20 s), so it is stranded.
            sql(
                site.db_url,
                "UPDATE django_tasks_database_dbtaskresult"
                " SET started_at = started_at - interval '20 minutes'"
                " WHERE status = 'RUNNING' AND started_at < now() - interval '30 seconds'"
                " AND started_at > now() - interval '20 minutes'",
            )
            # A failed e-mail waits out its retry step (at most an hour) at once; the
            # worker's next retention pass (each minute) makes either ready again.
            sql(
                site.db_url,
                "UPDATE django_tasks_database_dbtaskresult"
                " SET finished_at = finished_at - interval '1 hour'"
                " WHERE status = 'FAILED' AND finished_at > now() - interval '1 hour'",
            )
            left = {k: int(sql(site.db_url, q)[0][0]) for k, q in WORK_LEFT.items()}
        except Exception as error:  # the database may still be starting
            left = {"database": 1, type(error).__name__: 1}
        if not any(left.values()):
            return time.monotonic() - t0, left
        time.sleep(1)
    return -1.0, left


LOOKUP = """
import json, sys
import django
django.setup()
from tillit.subjects.models import Subject
from tillit.vault.blind import email_index
from tillit.vault.pii import Pii
addresses = json.load(sys.stdin)
index = {email_index(Pii(a)): a for a in addresses}
found = {}
rows = Subject.objects.filter(email_index__in=list(index)).values_list("email_index", "id")
for idx, sid in rows:
    found.setdefault(index[idx], []).append(str(sid))
json.dump(found, sys.stdout)
"""


def subjects_by_address(env: dict[str, str], addresses: list[str]) -> dict[str, list[str]]:
    """Each address's people in tillit's database, found as tillit finds them (blind index)."""
    done = subprocess.run(
        [sys.executable, "-c", LOOKUP],
        input=json.dumps(addresses),
        env={**env, "DJANGO_SETTINGS_MODULE": "tillit.settings"},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(c.REPO),
    )
    if done.returncode:
        raise RuntimeError(f"looking up the sign-ups failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def needles(marks: list[str], thorough: bool) -> list[tuple[str, bytes]]:
    """Each mark as typed and as the usual encodings would leave it (tests/e2e/test_canary.py
    has the full list); `thorough` adds those only a text dump of the rows would show."""
    out: dict[bytes, str] = {}
    for mark in marks:
        texts = {
            "as typed": mark,
            "lower case": mark.lower(),
            "upper case": mark.upper(),
            "NFD": unicodedata.normalize("NFD", mark),
            "URL-encoded": quote(mark),
            "URL-encoded (plus)": quote_plus(mark),
            "JSON-escaped": json.dumps(mark)[1:-1],
        }
        found = {label: text.encode() for label, text in texts.items()}
        found["UTF-16-LE"] = mark.encode("utf-16-le")
        if thorough:
            raw = mark.encode()
            found["hex"] = raw.hex().encode()
            for lead in range(3):
                padded = b"\0" * lead + raw
                start, end = (1 if lead else 0), len(padded) // 3
                found[f"base64 (offset {lead})"] = base64.b64encode(padded)[4 * start : 4 * end]
        for label, encoded in found.items():
            out.setdefault(encoded, f"{mark!r} ({label})")
    return [(label, encoded) for encoded, label in out.items()]


def scan_bytes(blob: bytes, where: str, search: list[tuple[str, bytes]]) -> list[str]:
    return [f"{where}: {label}" for label, encoded in search if encoded in blob]


def scan_tree(root: Path, search: list[tuple[str, bytes]], skip: tuple[str, ...] = ()) -> tuple:
    found, files, size = [], 0, 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root)
        if relative.parts[0] in skip or path.name == "filler":
            continue
        blob = path.read_bytes()
        files, size = files + 1, size + len(blob)
        found += scan_bytes(blob, f"{root.name}/{relative}", search)
    return found, files, size


def scan_database(db_url: str, search: list[tuple[str, bytes]]) -> tuple[list[str], int]:
    """Every row of every table as text (PostgreSQL shows bytea as hex)."""
    import psycopg

    found, rows = [], 0
    with psycopg.connect(db_url, autocommit=True) as conn:
        tables = [
            r[0]
            for r in conn.execute("select tablename from pg_tables where schemaname = 'public'")
        ]
        for table in tables:
            texts = [r[0] for r in conn.execute(f'select t::text from "{table}" t')]  # noqa: S608
            rows += len(texts)
            found += scan_bytes("\n".join(texts).encode(), f"table {table}", search)
    return found, rows


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def partner_store(partner_dir: Path) -> tuple[list[tuple], list[tuple]]:
    with sqlite3.connect(f"file:{partner_dir / 'partner.sqlite3'}?mode=ro", uri=True) as conn:
        leads = conn.execute("select lead_id, email, test from reference_partner_lead").fetchall()
        dsr = conn.execute(
            "select subject_request_id, request_type, status from reference_partner_dsrrequest"
        ).fetchall()
    return leads, dsr


def uuid_text(value: object) -> str:
    return str(value).replace("-", "").lower()


def verify(site: Site, load: Load) -> dict:  # noqa: C901
    """What the load was told, against tillit's database and the partner's own store."""
    tally = load.tally
    checks: list[Check] = []
    load.mailbox.scan()  # the e-mails the drain sent
    unmailed = sorted(tally.accepted - load.mailbox.linked)
    db = site.db_url
    # tillit's side: the people, their deliveries, the rights requests.
    addresses = sorted(tally.accepted | tally.confirmed | tally.confirm_unsure)
    people = subjects_by_address(site.env, addresses)
    missing = sorted(a for a in tally.accepted if a not in people)
    twice_here = sorted(a for a, ids in people.items() if len(ids) > 1)
    deliveries: dict[str, list[str]] = {}
    for subject, state in sql(db, "select subject_id, state from partners_delivery"):
        deliveries.setdefault(uuid_text(subject), []).append(state)
    delivered_here = {
        a
        for a, ids in people.items()
        if any("delivered" in deliveries.get(uuid_text(i), []) for i in ids)
    }
    # The partner's side, from its own store.
    leads, dsr = partner_store(site.partner_dir)  # type: ignore[attr-defined]
    ours = [(lead_id, address) for lead_id, address, test in leads if not test]
    at_partner = Counter(address for _, address in ours)
    by_lead_id = Counter(uuid_text(lead_id) for lead_id, _ in ours)
    duplicated = sorted(a for a, n in at_partner.items() if n > 1)
    duplicated_ids = sorted(i for i, n in by_lead_id.items() if n > 1)
    not_delivered = sorted(a for a in tally.confirmed if at_partner[a] == 0)
    not_recorded = sorted(a for a in tally.confirmed if a not in delivered_here)
    strangers = sorted(a for a in at_partner if a not in people)
    lost = len(missing) + len(not_delivered)

    checks.append(Check(
        "every sign-up answered 302 is a person in tillit's database",
        not missing,
        f"{len(tally.accepted)} accepted, {len(missing)} missing"
        + (f" (e.g. {missing[:3]})" if missing else ""),
    ))  # fmt: skip
    checks.append(Check(
        "every accepted sign-up was sent its confirmation link",
        not unmailed,
        f"{len(unmailed)} never sent one (failed e-mail jobs are tried again: retry_failed_mail)",
    ))  # fmt: skip
    checks.append(Check(
        "no person recorded twice",
        not twice_here,
        f"{len(twice_here)} addresses with more than one person",
    ))  # fmt: skip
    checks.append(Check(
        "every confirmation answered 200 is delivered: at the partner and recorded",
        not not_delivered and not not_recorded,
        f"{len(tally.confirmed)} confirmed; {len(not_delivered)} not at the partner, "
        f"{len(not_recorded)} not recorded as delivered",
    ))  # fmt: skip
    checks.append(Check(
        "no lead at the partner twice (by address, by lead id)",
        not duplicated and not duplicated_ids,
        f"{len(ours)} leads at the partner; {len(duplicated)} addresses twice, "
        f"{len(duplicated_ids)} lead ids twice",
    ))  # fmt: skip
    checks.append(Check(
        "the partner holds no lead of a person tillit does not know",
        not strangers,
        f"{len(strangers)}",
    ))  # fmt: skip
    # Envelopes: none lost while its lead waits, none kept after its lead is delivered.
    envelope_lost = sql(db, (
        "select count(*) from partners_delivery d where d.state in ('waiting', 'pending', 'leased')"
        " and not exists (select 1 from vault_envelope e where e.id = d.envelope_id)"
    ))[0][0]  # fmt: skip
    envelope_kept = sql(db, (
        "select count(*) from partners_delivery d where d.state in ('delivered', 'failed', "
        "'cancelled') and d.envelope_id is not null"
    ))[0][0]  # fmt: skip
    intakes = sql(db, WORK_LEFT["intakes waiting"])[0][0]
    envelopes = dict(sql(db, "select purpose, count(*) from vault_envelope group by purpose"))
    checks.append(Check(
        "no envelope lost or kept: each waiting lead sealed, each delivered one shredded",
        envelope_lost == 0 and envelope_kept == 0 and intakes == 0,
        f"{envelope_lost} waiting leads without their envelope, {envelope_kept} finished ones "
        f"still holding one, {intakes} intakes not recorded; envelopes left: {envelopes}",
    ))  # fmt: skip
    # Rights requests.
    requests = {
        f"R-{uuid_text(i)[:4].upper()}-{uuid_text(i)[4:8].upper()}": (state, kind)
        for i, state, kind in sql(db, "select id, state, kind from rights_rightsrequest")
    }
    rights_lost = [r for r, _, _ in tally.rights if r not in requests]
    rights_open = [r for r, _, _ in tally.rights if requests.get(r, ("",))[0] != "completed"]
    tasks = Counter(state for (state,) in sql(db, "select state from rights_partnertask"))
    task_ids = {uuid_text(i) for (i,) in sql(db, "select id from rights_partnertask")}
    dsr_ids = Counter(uuid_text(i) for i, _, _ in dsr)
    dsr_strangers = [i for i in dsr_ids if i not in task_ids]
    checks.append(Check(
        "every rights request accepted is recorded and answered",
        not rights_lost and not rights_open,
        f"{len(tally.rights)} accepted, {len(rights_lost)} not recorded, "
        f"{len(rights_open)} not completed; partner tasks {dict(tasks)}; "
        f"{len(dsr)} at the partner ({len(dsr_strangers)} unknown to tillit)",
    ))  # fmt: skip
    # The audit log.
    audit = subprocess.run(
        [*c.TILLIT, "audit", "verify"], env=site.env, capture_output=True, text=True,
        timeout=300, cwd=str(c.REPO),
    )  # fmt: skip
    audit_text = (audit.stdout + audit.stderr).strip().splitlines()
    checks.append(Check(
        "the audit log verifies (`tillit audit verify`)",
        audit.returncode == 0,
        audit_text[0] if audit_text else f"exit {audit.returncode}",
    ))  # fmt: skip
    figures = {
        "signups_sent": tally.signups_sent,
        "accepted": len(tally.accepted),
        "refused": dict(tally.refused),
        "signup_retries": tally.retries,
        "confirmed": len(tally.confirmed),
        "confirm_unsure": len(tally.confirm_unsure),
        "confirm_failed": dict(tally.confirm_failed),
        "delivered": len(ours),
        "duplicated": len(duplicated) + len(duplicated_ids),
        "lost": lost + len(rights_lost),
        "rights_accepted": len(tally.rights),
        "rights_completed": len(tally.rights) - len(rights_open),
        "rights_failed": dict(tally.rights_failed),
        "deliveries": dict(sql(db, "select state, count(*) from partners_delivery group by 1")),
        "accepted_never_sent_a_link": len(unmailed),
        "email_jobs_failed": dict(
            Counter(
                f"{path.rsplit('.', 1)[-1]}: {(trace.strip().splitlines() or [''])[-1]}"
                for path, trace in sql(
                    db,
                    "select task_path, traceback from django_tasks_database_dbtaskresult"
                    " where status = 'FAILED'",
                )
            )
        ),
        "email_jobs": dict(
            sql(db, "select status, count(*) from django_tasks_database_dbtaskresult group by 1")
        ),
        "audit": audit_text[0] if audit_text else "",
    }
    return {"checks": checks, "figures": figures}


def canary_checks(site: Site, load: Load, logdir: Path) -> tuple[Check, dict]:
    """With every process stopped: the rows, PostgreSQL's files, the data directory, logs."""
    marks = list(load.canary.values())
    thorough, quick = needles(marks, True), needles(marks, False)
    found, rows = scan_database(site.db_url, thorough)
    scanned = {"rows": rows}
    if site.pg:
        with site.pg.lock:
            site.pg.held = True
            site.pg.stop("fast")
        files, n, size = scan_tree(site.pg.data, quick)
        found += files
        scanned["postgresql files"] = f"{n} files, {size >> 20} MB"
        log_found, _, _ = scan_tree(site.pg.sockets, quick)
        found += log_found
    files, n, size = scan_tree(site.data_dir, thorough, skip=("demo",))  # type: ignore[attr-defined]
    found += files
    scanned["data directory"] = f"{n} files, {size >> 10} KB (demo/, the e-mail outbox, aside)"
    files, n, size = scan_tree(logdir, thorough)
    found += files
    scanned["logs"] = f"{n} files, {size >> 10} KB"
    # The scan can see: the partner, the processor, holds the people's names.
    seen, _, _ = scan_tree(site.partner_dir, quick)  # type: ignore[attr-defined]
    ok = not found and bool(seen) and rows > 100
    detail = (
        f"{len(found)} found" + (f": {found[:5]}" if found else "")
        + f"; scanned {scanned}; the same scan finds them at the partner: {bool(seen)}"
    )  # fmt: skip
    return Check("no canary at rest on the operator's side", ok, detail), scanned


# --- the run ------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Faults at random moments under load across real processes on PostgreSQL; "
        "then every accepted sign-up, delivery and rights request checked on both sides.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--seconds", type=float, default=600, help="how long the load and faults run")
    p.add_argument("--seed", type=int, default=None, help="the random moments (default: random)")
    p.add_argument("--rate", type=float, default=4.0, help="sign-ups per second")
    p.add_argument("--clients", type=int, default=8, help="client threads for the sign-ups")
    p.add_argument("--rights-every", type=float, default=2.0, help="seconds between requests")
    p.add_argument(
        "--gap", type=float, default=0, help="longest gap between faults (0: seconds/20, 3..20)"
    )
    p.add_argument("--drain", type=float, default=120, help="seconds allowed to drain")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.add_argument("--keep", action="store_true", help="keep the work directory and logs")
    return p.parse_args()


def main() -> int:
    global OUT
    args = parse_args()
    if args.seed is None:
        args.seed = random.randrange(1_000_000)
    if args.json:
        OUT = sys.stderr
    c.install_cleanup()
    started = time.monotonic()
    stdout, sys.stdout = sys.stdout, OUT
    try:
        c.header(f"bench/faults.py: a fault campaign across real processes (seed {args.seed})")
    finally:
        sys.stdout = stdout
    rng = random.Random(args.seed)
    work = c.temp_dir("tillit-faults-", keep=args.keep)
    work.chmod(0o755)  # PostgreSQL (another user) reaches its directories through it
    logdir = work / "logs"
    logdir.mkdir()
    site, skipped = set_up(args, work, logdir)
    cannot = {k for reason in skipped for k in reason.split(":")[0].split(", ")}
    kinds = [k for k in KINDS if k not in cannot]
    for reason in skipped:
        say(f"# skipped: {reason}")
    say(
        f"# up in {time.monotonic() - started:.0f}s: 2 x tillit web behind a load balancer on "
        f"{site.lb.port}, 1 x tillit worker, the reference partner behind a fault proxy, "  # type: ignore[attr-defined]
        + (f"PostgreSQL of its own on {site.pg.port}" if site.pg else "the shared PostgreSQL")
        + f"; faults: {', '.join(kinds)}"
    )
    load = Load(args, f"http://127.0.0.1:{site.lb.port}", f"{args.seed:06d}",  # type: ignore[attr-defined]
                site.data_dir / "demo" / "mail")  # type: ignore[attr-defined]  # fmt: skip
    load.start()
    t0 = time.monotonic()
    gap_max = args.gap or min(20.0, max(3.0, args.seconds / 20))
    campaign = Campaign(site, kinds, rng, t0)
    campaign.run(args.seconds, (1.0, gap_max))
    time.sleep(max(0.0, t0 + args.seconds - time.monotonic()))
    say(f"# load stops after {time.monotonic() - t0:.0f}s; draining ...")
    load.stop()
    until_up = time.monotonic()
    while not site.supervisor.alive() and time.monotonic() - until_up < 30:
        time.sleep(0.2)
    drained = drain(site, args.drain)
    say("# drained in " + (f"{drained[0]:.0f}s" if drained[0] >= 0 else f"TIMEOUT {drained[1]}"))
    result = verify(site, load)
    site.supervisor.running = False
    site.supervisor.join(5)
    c.PROCS.stop_all()
    canary_check, _ = canary_checks(site, load, logdir)
    checks: list[Check] = [*result["checks"], canary_check]
    crashes = {s.name: s.unexpected for s in site.supervisor.services if s.unexpected}
    checks.append(Check(
        "no process died but those the campaign killed",
        not crashes,
        f"unexpected exits (exit codes): {crashes}" if crashes else "none",
    ))  # fmt: skip
    checks.append(Check(
        "the worker drained within --drain",
        drained[0] >= 0,
        f"{drained[0]:.0f}s" if drained[0] >= 0 else f"left: {drained[1]}",
    ))  # fmt: skip
    figures = result["figures"]
    faults = Counter(f.kind for f in campaign.faults)
    report = {
        "command": c.command_line(),
        "seed": args.seed,
        "seconds": args.seconds,
        "rate": args.rate,
        **figures,
        "faults": {k: faults.get(k, 0) for k in kinds},
        "faults_total": sum(faults.values()),
        "faults_skipped": skipped,
        "partner_proxy": dict(site.partner_proxy.seen),
        "restarts": {s.name: s.restarts for s in site.supervisor.services},
        "postgresql_started_by_supervisor": site.pg.restarts_by_supervisor if site.pg else 0,
        "drain_seconds": round(drained[0], 1),
        "checks": [{"name": k.name, "ok": k.ok, "detail": k.detail} for k in checks],
        "ok": all(k.ok for k in checks),
        "wall_seconds": round(time.monotonic() - started, 1),
    }
    print_report(report, checks)
    if args.json:
        print(json.dumps(report, indent=2, default=str), flush=True)
    return 0 if report["ok"] else 1


def print_report(r: dict, checks: list[Check]) -> None:
    say("")
    say(c.table(
        [
            ["sign-ups sent / accepted (302)", f"{r['signups_sent']} / {r['accepted']}",
             f"refused after retries: {r['refused']}; presses again: {r['signup_retries']}"],
            ["confirmed (200)", str(r["confirmed"]),
             f"perhaps (no answer, then 400): {r['confirm_unsure']}; failed {r['confirm_failed']}"],
            ["delivered (leads at the partner)", str(r["delivered"]),
             f"tillit's deliveries: {r['deliveries']}"],
            ["duplicated", str(r["duplicated"]), "leads at the partner twice"],
            ["lost", str(r["lost"]), "accepted, confirmed or requested, and not there"],
            ["rights requests accepted / completed",
             f"{r['rights_accepted']} / {r['rights_completed']}",
             f"not accepted: {r['rights_failed']}"],
            ["faults injected", str(r["faults_total"]),
             ", ".join(f"{k} {v}" for k, v in r["faults"].items())],
            ["partner proxy", "", str(r["partner_proxy"])],
            ["restarts by the supervisor", "", str(r["restarts"])
             + f"; PostgreSQL started again {r['postgresql_started_by_supervisor']}"],
            ["e-mail jobs", "", str(r["email_jobs"])],
            ["failed e-mail jobs", "", str(r["email_jobs_failed"])],
            ["accepted, never sent a confirmation link", str(r["accepted_never_sent_a_link"]),
             "failed e-mail jobs are tried again (retry_failed_mail)"],
        ],
        ["figure", "value", "detail"],
    ))  # fmt: skip
    say("")
    for k in checks:
        say(f"{'PASS' if k.ok else 'FAIL'}  {k.name}: {k.detail}")
    say(f"# {'ALL CHECKS PASS' if r['ok'] else 'SOME CHECKS FAIL'}; wall {r['wall_seconds']}s")


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        c.cleanup_now()
