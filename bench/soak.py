"""Soak: a fixed sign-up rate for --duration seconds through two `tillit web` processes and two
`tillit worker` processes on PostgreSQL, each sign-up confirmed from its e-mail and delivered.

Everything runs as an operator would run it on two machines sharing one database and one
Redis: `tillit web --port P1` and `tillit web --port P2` (small, so that both fit 2 cores), two
`tillit worker`, `tillit reference-partner`, all with the same DATABASE_URL (a throwaway
PostgreSQL database) and TILLIT_REDIS_URL (the per-IP limits are shared through it).

The load is open-loop: request i is due at start + i/rate, whether or not the earlier ones
have been answered (a pool of client threads, one keep-alive connection per thread and port,
standard library only). Sign-ups alternate between the two ports, each a new person
(soak-<run>-<i>@example.com). The site runs in demo mode, so each confirmation e-mail is a
file; a confirmer thread reads each new one as it appears, takes the link and POSTs it to one
of the two ports, as the person's click on "confirm" would. The workers then deliver the lead.

Printed: requests sent, errors (not 2xx/3xx, and socket errors), p50/p99/max latency (from the
moment a request was sent, and from the moment it was due: the second includes any wait in
the client, so a load generator that falls behind shows), the sign-up rate held, and at the end
(after every accepted sign-up is confirmed and the queue has drained) the leads at the partner
against the sign-ups accepted; the resident memory (VmRSS) of each web process tree, worker and
the partner after warm-up, every --sample seconds and at the end.
"""

from __future__ import annotations

import argparse
import http.client
import os
import queue
import quopri
import re
import secrets
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx

import _common as c
from _cpu import PgCpu, self_cpu_seconds
from _wrk import count_rows, csrf_pair

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
            self.samples.append(Sample(kind, due, sent, time.monotonic(), status, error))


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


# --- figures -----------------------------------------------------------------------------


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


@dataclass
class Procs:
    webs: list[c.Proc]
    workers: list[c.Proc]
    partner: c.Proc

    def named(self) -> list[tuple[str, c.Proc]]:
        return [
            *((f"web{n + 1}", p) for n, p in enumerate(self.webs)),
            *((f"worker{n + 1}", p) for n, p in enumerate(self.workers)),
            ("partner", self.partner),
        ]


@dataclass
class Point:
    """One sample: the memory of every process, and how far the run had got."""

    label: str
    at: float
    mem: dict[str, c.Mem]
    delivered: int


DELIVERED = "select count(*) from partners_delivery where state='delivered'"


def point(label: str, procs: Procs, db_url: str) -> Point:
    mem = {name: c.tree_rss(p.popen.pid) for name, p in procs.named()}
    return Point(label, time.monotonic(), mem, count_rows(db_url, Path(), DELIVERED))


# --- the run -----------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="A fixed sign-up rate through 2 web + 2 worker processes on PostgreSQL, "
        "each sign-up confirmed and delivered; errors, latency, leads delivered, memory.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--rate", type=float, default=10.0, help="sign-ups per second (both ports)")
    p.add_argument("--duration", type=float, default=600, help="seconds measured")
    p.add_argument(
        "--warmup", type=float, default=30, help="seconds at the same rate before measuring"
    )
    p.add_argument("--webs", type=int, default=2, help="`tillit web` processes, one port each")
    p.add_argument("--workers", type=int, default=2, help="`tillit worker` processes")
    p.add_argument(
        "--worker-batch", type=int, default=0, help="tillit worker --batch (0: the product's 64)"
    )
    p.add_argument("--web-workers", type=int, default=1, help="tillit web --workers")
    p.add_argument("--web-threads", type=int, default=2, help="tillit web --threads")
    p.add_argument("--server", choices=["granian", "gunicorn"], default="granian")
    p.add_argument("--clients", type=int, default=64, help="client threads (open loop)")
    p.add_argument("--redis-db", type=int, default=11, help="TILLIT_REDIS_URL database number")
    p.add_argument("--sample", type=float, default=60, help="seconds between memory samples")
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=300,
        help="seconds allowed after the load stops for confirmations and deliveries to finish",
    )
    p.add_argument("--keep", action="store_true", help="keep the data directory and logs")
    return p.parse_args()


def redis_check(db: int) -> str:
    import redis

    try:
        keys = redis.Redis(host="127.0.0.1", port=6379, db=db).dbsize()
    except redis.RedisError as error:
        raise SystemExit(f"Redis at 127.0.0.1:6379 is not usable: {error}") from None
    return (
        f"{keys} keys already in db {db} (rate-limit keys are HMACs under this run's fresh "
        "secret key, so they cannot collide)"
        if keys
        else f"db {db} empty at start"
    )


def start(args: argparse.Namespace, env: dict[str, str], logdir: Path, partner_port: int) -> Procs:
    partner = c.PROCS.start(
        "partner", [*c.TILLIT, "reference-partner", "--port", str(partner_port)], env, logdir
    )
    webs = []
    for n in range(args.webs):
        port = c.free_port()
        argv = [*c.TILLIT, "web", "--port", str(port), "--server", args.server]
        argv += ["--workers", str(args.web_workers), "--threads", str(args.web_threads)]
        proc = c.PROCS.start(f"web{n + 1}", argv, env, logdir)
        proc.port = port  # type: ignore[attr-defined]
        webs.append(proc)
        # One at a time: each runs `migrate` (nothing to do after init) before it serves.
        c.wait_http(f"http://127.0.0.1:{port}/healthz", proc)
    worker_argv = [*c.TILLIT, "worker"]
    if args.worker_batch:
        worker_argv += ["--batch", str(args.worker_batch)]
    workers = [
        c.PROCS.start(f"worker{n + 1}", worker_argv, env, logdir) for n in range(args.workers)
    ]
    c.wait_http(f"http://127.0.0.1:{partner_port}/healthz", partner)
    return Procs(webs, workers, partner)


@dataclass
class Run:
    signups_due: int = 0
    measured_from: float = 0.0
    measured_to: float = 0.0
    points: list[Point] = field(default_factory=list)
    cpu: dict = field(default_factory=dict)
    machine_busy: float = 0.0
    client_cores: float = 0.0


def drive(
    args: argparse.Namespace, load: Load, procs: Procs, prefix: str, token: str, db: str
) -> Run:
    """Schedule sign-ups at args.rate for warm-up + duration; sample memory on the way."""
    db_url = f"postgres://postgres@127.0.0.1:5432/{db}"
    pg = PgCpu(db)
    run = Run()
    t0 = time.monotonic()
    end_warm = t0 + args.warmup
    end = end_warm + args.duration
    next_sample = end_warm
    i = 0
    warm_done = False
    cpu0: dict = {}
    while True:
        due = t0 + i / args.rate
        if due >= end:
            break
        now = time.monotonic()
        if not warm_done and now >= end_warm:
            warm_done = True
            run.measured_from = now
            cpu0 = {n: c.tree_cpu_seconds(p.popen.pid) for n, p in procs.named()}
            machine0, self0 = c.machine_cpu(), self_cpu_seconds()
            pg.mark()
        if warm_done and now >= next_sample:
            label = f"{now - end_warm:.0f} s" if next_sample > end_warm else "start"
            run.points.append(point(label, procs, db_url))
            next_sample += args.sample
            pg.sample()
        if due > now:
            time.sleep(min(due - now, 0.05))
            continue
        body = urlencode(
            {
                "csrfmiddlewaretoken": token,
                "name": "Soak Person",
                "email": f"soak-{prefix}-{i}@example.com",
                "phone": "",
                "country": "NO",
                "consent_partner": "on",
            }
        )
        load.jobs.put(("signup", due, load.ports[i % len(load.ports)], "/", body))
        i += 1
    run.signups_due = i
    run.measured_to = time.monotonic()
    seconds = run.measured_to - run.measured_from
    run.cpu = {n: (c.tree_cpu_seconds(p.popen.pid) - cpu0[n]) / seconds for n, p in procs.named()}
    run.cpu["PostgreSQL backends"] = pg.used() / seconds
    machine1 = c.machine_cpu()
    total, idle = machine1[0] - machine0[0], machine1[1] - machine0[1]
    run.machine_busy = (total - idle) / total if total else 0.0
    run.client_cores = (self_cpu_seconds() - self0) / seconds
    run.points.append(point("end", procs, db_url))
    return run


def wait_for(what: str, check, timeout: float) -> float:  # noqa: ANN001
    """Poll check() until it is true; return the seconds it took (or -1 on timeout)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if check():
            return time.monotonic() - t0
        time.sleep(0.5)
    print(f"# TIMEOUT: {what} not done within {timeout:.0f}s", flush=True)
    return -1.0


def final_counts(db_url: str) -> dict[str, int]:
    q = {
        "subjects": "select count(*) from subjects_subject",
        "active": "select count(*) from subjects_subject where state='active'",
        "deliveries": "select count(*) from partners_delivery",
        "delivered": "select count(*) from partners_delivery where state='delivered'",
        "claims": "select coalesce(sum(attempts),0) from partners_delivery",
        "claimed_twice": "select count(*) from partners_delivery where attempts > 1",
        "audit_delivered": "select count(*) from audit_auditevent where action='lead.delivered'",
        "lead_envelopes": "select count(*) from vault_envelope where purpose='lead'",
        "tasks": "select count(*) from django_tasks_database_dbtaskresult",
        "tasks_ok": "select count(*) from django_tasks_database_dbtaskresult "
        "where status='SUCCESSFUL'",
    }
    return {k: int(count_rows(db_url, Path(), sql)) for k, sql in q.items()}


def twice_detail(db_url: str) -> str:
    """Leads by attempts, with the time from release to delivery of each group."""
    import psycopg

    with psycopg.connect(db_url.replace("postgres://", "postgresql://", 1)) as conn:
        rows = conn.execute(
            "select attempts, count(*), min(delivered_at - released_at), "
            "max(delivered_at - released_at) from partners_delivery group by attempts "
            "order by attempts"
        ).fetchall()
    return "; ".join(
        f"{a} attempt{'s' if a != 1 else ''}: {n} (released -> delivered {lo}..{hi})"
        for a, n, lo, hi in rows
    )


def main() -> None:
    args = parse_args()
    c.install_cleanup()
    c.header("bench/soak.py: a fixed sign-up rate through 2 web + 2 worker processes")
    c.warn_if_busy()
    started = time.monotonic()
    data_dir = c.temp_dir("tillit-bench-soak-", keep=args.keep)
    logdir = data_dir / "bench-logs"
    logdir.mkdir()
    db_name, db_url = c.create_pg_database()
    env = c.make_env(data_dir, db_url)
    env["TILLIT_REDIS_URL"] = f"redis://127.0.0.1:6379/{args.redis_db}"
    print(f"# Redis: {redis_check(args.redis_db)}")
    partner_port = c.free_port()
    c.run_init(env, partner_port, logdir)
    procs = start(args, env, logdir, partner_port)
    ports = [p.port for p in procs.webs]  # type: ignore[attr-defined]
    print(
        f"# database: PostgreSQL ({db_name}); {args.webs} x `tillit web --server {args.server} "
        f"--workers {args.web_workers} --threads {args.web_threads}` on ports {ports}; "
        f"{args.workers} x `tillit worker"
        + (f" --batch {args.worker_batch}" if args.worker_batch else "")
        + f"`; reference partner on {partner_port}; "
        f"TILLIT_REDIS_URL={env['TILLIT_REDIS_URL']}",
        flush=True,
    )
    print(
        f"# load: {args.rate:g} sign-ups/s (open loop, {args.clients} client threads, "
        f"alternating ports) for {args.warmup:g}s warm-up + {args.duration:g}s measured; "
        "each confirmed from its e-mail (POST /confirm/<token>/ to alternating ports)",
        flush=True,
    )
    cookie, token = csrf_pair(f"http://127.0.0.1:{ports[0]}")
    load = Load(ports, cookie, args.clients)
    load.start()
    confirmer = Confirmer(data_dir / "demo" / "mail", load, token)
    confirmer.start()
    prefix = secrets.token_hex(4)
    run = drive(args, load, procs, prefix, token, db_name)
    print(f"# load stopped after {run.signups_due} sign-ups; draining ...", flush=True)

    # Every sign-up answered, then every accepted one confirmed, then every lead delivered.
    wait_for(
        "answers to the sign-ups",
        lambda: sum(1 for s in load.samples if s.kind == "signup") >= run.signups_due,
        120,
    )
    accepted = sum(1 for s in load.samples if s.kind == "signup" and 300 <= s.status < 400)
    confirm_s = wait_for(
        "confirmations",
        lambda: sum(1 for s in load.samples if s.kind == "confirm") >= accepted,
        args.drain_timeout,
    )
    confirmed = sum(1 for s in load.samples if s.kind == "confirm" and s.status == 200)
    drain_s = wait_for(
        "deliveries",
        lambda: count_rows(db_url, Path(), DELIVERED) >= confirmed,
        args.drain_timeout,
    )
    confirmer.running = False
    load.stop()
    after = point("drained", procs, db_url)
    try:
        partner_count = int(
            httpx.get(f"http://127.0.0.1:{partner_port}/leads.json", timeout=60).json()["count"]
        )
    except (httpx.HTTPError, ValueError, KeyError) as error:
        print(f"# could not read the partner's /leads.json: {error}")
        partner_count = -1
    counts = final_counts(db_url)
    alive = {name: p.popen.poll() for name, p in procs.named()}
    report(args, run, load, confirmer, accepted, confirm_s, drain_s, partner_count, counts)
    report_memory(run, load, after)
    for name, proc in procs.named():
        n, samples = c.log_problems(proc.log)
        if n:
            print(f"# {name} log: {n} warnings/errors, e.g. " + " | ".join(samples))
    if counts["claimed_twice"]:
        print(f"# leads by attempts: {twice_detail(db_url)}")
    dead = {k: v for k, v in alive.items() if v is not None}
    if dead:
        print(f"# PROCESSES THAT EXITED DURING THE RUN: {dead} (logs in {logdir})")
    print(
        f"# total time {time.monotonic() - started:.0f}s; logs in {logdir}"
        + ("" if args.keep else " (deleted at exit; use --keep)")
    )
    ok = (
        partner_count == accepted == counts["delivered"]
        and not dead
        and all(s.status and 200 <= s.status < 400 for s in load.samples)
    )
    if not ok:
        sys.exit(1)


def report(
    args: argparse.Namespace,
    run: Run,
    load: Load,
    confirmer: Confirmer,
    accepted: int,
    confirm_s: float,
    drain_s: float,
    partner_count: int,
    counts: dict[str, int],
) -> None:
    measured = [s for s in load.samples if run.measured_from <= s.due < run.measured_to]
    seconds = run.measured_to - run.measured_from
    rows = []
    for kind, label in (("signup", "POST / (sign-up)"), ("confirm", "POST /confirm/<token>/")):
        m = summarise(measured, kind)
        a = summarise(load.samples, kind)
        rows.append(
            [
                label,
                str(m["sent"]),
                f"{m['sent'] / seconds:.2f}",
                str(m["bad"]),
                str(m["socket"]),
                f"{m['p50']:.1f}",
                f"{m['p99']:.1f}",
                f"{m['max']:.0f}",
                f"{m['due_p99']:.1f}",
                f"{a['sent']} / {a['bad'] + a['socket']}",
            ]
        )
        if a["statuses"] or a["errors"]:
            print(f"# {label}: statuses {a['statuses']}, socket errors {a['errors']}")
    print()
    print(
        c.table(
            rows,
            [
                f"measured {seconds:.0f}s",
                "requests",
                "per s",
                "non-2xx/3xx",
                "sock err",
                "p50 ms",
                "p99 ms",
                "max ms",
                "p99 from due",
                "whole run: sent / errors",
            ],
        )
    )
    sign = summarise(measured, "signup")
    held = sign["sent"] / seconds
    errors = sum(1 for s in load.samples if not (s.status and 200 <= s.status < 400))
    rows = [
        [
            "sign-up rate held",
            f"{held:.2f}/s",
            f"asked {args.rate:g}/s; the client was at most "
            f"{load.max_send_lag * 1000:.0f} ms behind its schedule",
            "PASS" if held >= 0.99 * args.rate and load.max_send_lag < 1 else "FAIL",
        ],
        [
            "errors, whole run (sign-ups + confirmations)",
            str(errors),
            f"target 0; {load.stale_retries} requests sent again after the server had closed "
            "an idle kept-alive connection",
            _pf(errors == 0),
        ],
        [
            "sign-ups accepted (302) / subjects made",
            f"{accepted} / {counts['subjects']}",
            "equal: each 302 was a new person",
            _pf(accepted == counts["subjects"]),
        ],
        [
            "confirmation e-mails read / confirmed (active)",
            f"{confirmer.queued} / {counts['active']}",
            f"e-mail jobs {counts['tasks_ok']}/{counts['tasks']} successful; "
            f"{len(confirmer.no_link)} mails without a link; last confirmation "
            + (f"{confirm_s:.0f}s after the load stopped" if confirm_s >= 0 else "TIMED OUT"),
            _pf(confirmer.queued == counts["active"] == accepted),
        ],
        [
            "leads at the partner (/leads.json) / accepted",
            f"{partner_count} / {accepted}",
            "after the queue drained ("
            + (f"{drain_s:.0f}s after the confirmations)" if drain_s >= 0 else "TIMED OUT)"),
            _pf(partner_count == accepted),
        ],
        [
            "deliveries delivered / audit lead.delivered",
            f"{counts['delivered']} / {counts['audit_delivered']}",
            f"of {counts['deliveries']}; {counts['lead_envelopes']} lead envelopes left",
            _pf(counts["delivered"] == counts["audit_delivered"] == accepted),
        ],
        [
            "claims (attempts) / leads claimed more than once",
            f"{counts['claims']} / {counts['claimed_twice']}",
            "a lead claimed once is sent once: expected claims = delivered, 0 twice",
            _pf(counts["claims"] == counts["delivered"] and counts["claimed_twice"] == 0),
        ],
    ]
    print()
    print(c.table(rows, ["figure", "value", "detail", "check"]))
    print()
    print(
        "# CPU while measured (cores busy on average; 2.00 = the whole machine): "
        + ", ".join(f"{k} {v:.2f}" for k, v in run.cpu.items())
        + f", this script (load + confirmer) {run.client_cores:.2f}; machine busy "
        f"{run.machine_busy:.0%} (everything, PostgreSQL and other users included)"
    )
    print(
        "# latency: 'p50/p99/max' from the request being written to the last byte of the "
        "answer; 'p99 from due' from the moment the open-loop schedule wanted it sent (it "
        "includes any wait for a free client thread)"
    )


def _pf(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report_memory(run: Run, load: Load, after: Point) -> None:
    """Per sample: the sign-ups of the interval before it, their latency, and the memory."""
    points = [*run.points, after]
    names = list(points[0].mem)
    rows, previous = [], None
    for p in points:
        if previous is None or p.label == "drained":
            window: list[Sample] = []
        else:
            window = [
                s
                for s in load.samples
                if s.kind == "signup" and previous.at <= s.due < min(p.at, run.measured_to)
            ]
        service = [(s.done - s.sent) * 1000 for s in window if s.status]
        bad = sum(1 for s in window if not (s.status and 200 <= s.status < 400))
        rows.append(
            [
                p.label,
                str(len(window)) if window else "-",
                f"{pct(service, 50):.0f}" if service else "-",
                f"{pct(service, 99):.0f}" if service else "-",
                str(bad) if window else "-",
                str(p.delivered),
                *(f"{p.mem[n].sum_mb:.0f}" for n in names),
            ]
        )
        previous = p
    print()
    print(
        "# per sample: sign-ups due since the previous sample, their latency and errors, leads "
        "delivered so far, and resident memory (VmRSS, MB; a web process is its server's "
        "tree: master + worker)"
    )
    head = ["when", "sign-ups", "p50 ms", "p99 ms", "errors", "delivered", *names]
    print(c.table(rows, head))
    start, end = run.points[0].mem, run.points[-1].mem
    growth = []
    for n in names:
        d = end[n].sum_mb - start[n].sum_mb
        share = d / start[n].sum_mb if start[n].sum_mb else 0.0
        growth.append(f"{n} {d:+.0f} MB ({share:+.0%})")
    print("# growth from 'start' (after warm-up) to 'end' (load stopped): " + ", ".join(growth))
    spread = [statistics.pstdev([p.mem[n].sum_mb for p in run.points]) for n in names]
    print(
        "# target: flat (no steady climb from sample to sample); spread (stdev) of the samples: "
        + ", ".join(f"{n} {s:.1f} MB" for n, s in zip(names, spread, strict=True))
    )


if __name__ == "__main__":
    try:
        main()
    finally:
        c.cleanup_now()
