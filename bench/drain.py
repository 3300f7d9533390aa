"""Delivery drain: N confirmed leads queued for the reference partner, delivered by ONE worker.

Steps (all in a fresh data directory, and on --postgres a throwaway PostgreSQL database):
1. `tillit init --demo --partner-port P` (keys, database, admin, the demo partner at P).
2. Seed N confirmed leads in this process through the real domain functions:
   `tillit.subjects.signup.register(Signup(...))` then `confirm(confirmation_token(subject))`,
   each sign-up exactly as the web form makes it. By default --seed-batch sign-ups share one
   database transaction (register/confirm's own transactions become savepoints inside it):
   the rows are the same, only the commits are fewer. The seeding rate is printed.
3. The e-mail jobs register queued (one send_confirmation per sign-up) are deleted after
   seeding by default (--email-jobs clear), so only deliveries are measured; with
   --email-jobs keep they stay and the worker runs them too (they find the subject confirmed
   and send nothing, but each is a claimed, run and recorded task).
4. Start `tillit reference-partner --port P` and then `tillit worker` (separate processes), poll
   the database for Delivery rows in state 'delivered' until all N are or --timeout passes.
5. Report leads/s, time to drain, worker and partner CPU and peak memory (VmHWM), and check
   that the partner's GET /leads.json `count` equals N and that nothing failed or is left.

With --outage S it is a backlog after a partner outage instead: the worker starts first, with
the partner down (nothing listens on its port, so each attempt fails at once and the lead is
put back with the product's exponential backoff); the N leads are seeded while it fails; the
partner stays down S seconds more; then it starts, and the clock runs from its start to the
last delivery. The backlog as the partner found it (leads due at once, the latest retry time,
the attempts so far) is printed, and afterwards the partner's own database is read to check
that it holds every lead exactly once.

--seed bulk writes the rows register()+confirm() write (a sealed lead envelope, the subject,
its consent records and a released delivery, through the product's own seal, blind index,
routing and consent-record functions) in --seed-batch rows per statement, without the audit
events and e-mail jobs of a sign-up: ~10x faster, so that -n 50000 is practical. The drain
itself (what is measured) is the same.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

import _common as c


def setup_django(env: dict[str, str]) -> None:
    for key in [
        k for k in os.environ if k.startswith(("TILLIT_", "DJANGO_")) or k == "DATABASE_URL"
    ]:
        del os.environ[key]
    os.environ.update(
        {k: v for k, v in env.items() if k.startswith("TILLIT_") or k == "DATABASE_URL"}
    )
    os.environ["DJANGO_SETTINGS_MODULE"] = "tillit.settings"
    import django

    django.setup()


def seed(n: int, batch: int, prefix: str) -> float:
    """register + confirm n sign-ups; returns the seconds it took."""
    from django.db import transaction

    from tillit import datamap
    from tillit.subjects.signup import Signup, confirm, confirmation_token, register
    from tillit.vault.pii import Pii

    purposes = datamap.load().consent_purposes()
    # As the form makes it with consent_partner=on and consent_offers left off.
    consents = {p.id: p.field == "consent_partner" for p in purposes}
    started = time.perf_counter()
    done = 0
    while done < n:
        size = min(batch, n - done)
        with transaction.atomic():
            for i in range(done, done + size):
                result = register(
                    Signup(
                        name=Pii("Bench Lead"),
                        email=Pii(f"bench-{prefix}-{i}@example.com"),
                        phone=None,
                        country="NO",
                        consents=consents,
                        language="nb",
                    )
                )
                assert result.subject is not None and not result.duplicate
                confirm(confirmation_token(result.subject))
        done += size
    return time.perf_counter() - started


def seed_bulk(n: int, batch: int, prefix: str) -> float:
    """The rows of n confirmed sign-ups, batch at a time; returns the seconds it took.

    Each lead is sealed by `Envelope.objects.seal`, indexed by `email_index`, routed by
    `routing.assign` and given its consent records by the sign-up's own `_consent_records`, as
    register() does; the subject is active and the delivery released, as confirm() leaves
    them. Left out: the two audit events and the confirmation e-mail job of each sign-up."""
    from django.db import transaction
    from django.utils import timezone

    from tillit import datamap
    from tillit.consent.models import ConsentRecord
    from tillit.partners import routing
    from tillit.partners.models import Delivery, DeliveryState
    from tillit.policy import versions
    from tillit.subjects.models import State, Subject
    from tillit.subjects.signup import Signup, _consent_records
    from tillit.vault.blind import email_index
    from tillit.vault.models import Envelope, Purpose
    from tillit.vault.pii import Pii

    dm = datamap.load()
    consents = {p.id: p.field == "consent_partner" for p in dm.consent_purposes()}
    label = versions.current_label()
    started = time.perf_counter()
    done = 0
    while done < n:
        size = min(batch, n - done)
        now = timezone.now()
        people, deliveries = [], []
        with transaction.atomic():
            for i in range(done, done + size):
                signup = Signup(
                    name=Pii("Bench Lead"),
                    email=Pii(f"bench-{prefix}-{i}@example.com"),
                    phone=None,
                    country="NO",
                    consents=consents,
                    language="nb",
                )
                subject_id = uuid.uuid4()
                partner = routing.assign(subject_id, signup.country)
                subject = Subject(
                    id=subject_id,
                    email_index=email_index(signup.email),
                    country=signup.country,
                    language=signup.language,
                    partner=partner,
                    policy_version=label,
                    created_at=now,
                    state=State.ACTIVE,
                    confirmed_at=now,
                )
                lead = Envelope.objects.seal(
                    {
                        "name": signup.name,
                        "email": signup.email,
                        "phone": signup.phone,
                        "country": signup.country,
                        "language": signup.language,
                    },
                    Purpose.LEAD,
                )
                people.append((subject, signup))
                deliveries.append(
                    Delivery(
                        subject=subject,
                        partner=partner,
                        envelope=lead,
                        created_at=now,
                        state=DeliveryState.PENDING,
                        next_attempt_at=now,
                        released_at=now,
                    )
                )
            Subject.objects.bulk_create([subject for subject, _ in people])
            ConsentRecord.objects.bulk_create(
                record
                for subject, signup in people
                for record in _consent_records(
                    subject, signup, dm, "signup-form", label, uuid.uuid4()
                )
            )
            Delivery.objects.bulk_create(deliveries)
        done += size
    return time.perf_counter() - started


def counts() -> dict[str, int]:
    from django.db.models import Count

    from tillit.partners.models import Delivery

    rows = Delivery.objects.values("state").annotate(n=Count("id")).order_by()
    return {r["state"]: r["n"] for r in rows}


def delivered_count() -> int:
    from tillit.partners.models import Delivery

    return Delivery.objects.filter(state="delivered").count()


def pg_sessions(db_name: str) -> tuple[int, int, int, int]:
    """(sessions ever opened, backends connected now) for the bench database, then the
    backends connected to the whole server and its max_connections."""
    import psycopg

    with psycopg.connect(c.PG_ADMIN_URL, autocommit=True) as conn:
        row = conn.execute(
            "select sessions, numbackends from pg_stat_database where datname = %s", (db_name,)
        ).fetchone()
        everyone = conn.execute(
            "select count(*) from pg_stat_activity where backend_type = 'client backend'"
        ).fetchone()[0]
        limit = int(conn.execute("show max_connections").fetchone()[0])
    return int(row[0]), int(row[1]), int(everyone), limit


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Time one `tillit worker` delivering N seeded leads to the reference "
        "partner over HTTP.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("-n", "--leads", type=int, default=10_000, help="leads to seed and deliver")
    p.add_argument(
        "--postgres",
        action="store_true",
        help="tillit's database on PostgreSQL (a throwaway database); default SQLite",
    )
    p.add_argument(
        "--seed-batch",
        type=int,
        default=100,
        help="sign-ups per seeding transaction (1 = each its own, as on the site)",
    )
    p.add_argument(
        "--email-jobs",
        choices=["clear", "keep"],
        default="clear",
        help="delete the queued confirmation e-mail jobs after seeding, or keep them "
        "for the worker to run during the drain",
    )
    p.add_argument(
        "--batch", type=int, default=0, help="tillit worker --batch (0: the product's default)"
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=0,
        help="TILLIT_DELIVERY_CONCURRENCY for the worker (0: the product's default)",
    )
    p.add_argument(
        "--seed",
        choices=["domain", "bulk"],
        default="domain",
        help="seed through register()+confirm(), or write the same rows in bulk (no audit "
        "events or e-mail jobs; for -n 50000)",
    )
    p.add_argument(
        "--outage",
        type=float,
        default=None,
        metavar="S",
        help="a partner outage: start the worker with the partner down, seed while it fails, "
        "wait S seconds more, then start the partner and time the drain to the last delivery",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds allowed for the drain (default: 150, plus n/20 and the outage)",
    )
    p.add_argument(
        "--pg-headroom",
        type=int,
        default=20,
        help="with --postgres, stop the drain when the server's client backends "
        "reach max_connections minus this (the server may be shared)",
    )
    p.add_argument("--keep", action="store_true", help="keep the data directory and logs")
    return p.parse_args()


@dataclass
class Setup:
    db: str
    db_name: str
    env: dict[str, str]
    logdir: object
    partner_port: int
    seed_seconds: float
    jobs_queued: int
    jobs_left: int
    worker: c.Proc | None = None
    worker_started: float = 0.0


@dataclass
class Drain:
    seconds: float = 0.0
    done: int = 0
    first_at: float | None = None
    first_done: int = 0
    samples: list = field(default_factory=list)
    worker_cpu: float = 0.0
    partner_cpu: float = 0.0
    worker_mem: c.Mem | None = None
    partner_mem: c.Mem | None = None
    partner_count: int = -1
    sessions: int = 0
    peak_backends: int = 0
    guard_tripped: str = ""


def prepare(args: argparse.Namespace, worker_first: bool = False) -> Setup:
    db = "postgres" if args.postgres else "sqlite"
    data_dir = c.temp_dir(f"tillit-bench-drain-{db}-", keep=args.keep)
    logdir = data_dir / "bench-logs"
    logdir.mkdir()
    db_name, db_url = c.create_pg_database() if args.postgres else ("", "")
    env = c.make_env(data_dir, db_url)
    if args.concurrency:
        env["TILLIT_DELIVERY_CONCURRENCY"] = str(args.concurrency)
    partner_port = c.free_port()
    c.run_init(env, partner_port, logdir)
    setup_django(env)
    worker, worker_started = None, 0.0
    if worker_first:
        # The outage starts before the first lead: the worker runs, the partner does not.
        worker = c.PROCS.start("worker", worker_argv(args), env, logdir)
        worker_started = time.monotonic()
        time.sleep(1.0)
        if worker.popen.poll() is not None:
            raise RuntimeError(f"the worker exited:\n{c.tail(worker.log)}")

    from django.conf import settings
    from django.db import connection
    from django_tasks_db.models import DBTaskResult

    n = args.leads
    how = "register()+confirm()" if args.seed == "domain" else "bulk rows (--seed bulk)"
    print(
        f"# database: {db}; leads: {n}; seeding in this process with {how}, "
        f"{args.seed_batch} per transaction"
        + (" while the worker runs and the partner is down" if worker_first else "")
        + "; worker batch "
        f"{args.batch or 'default (64)'}, delivery concurrency "
        f"{settings.DELIVERY_CONCURRENCY}",
        flush=True,
    )
    seeder = seed if args.seed == "domain" else seed_bulk
    seed_seconds = seeder(n, args.seed_batch, os.urandom(4).hex())
    before = counts()
    if not worker_first:
        assert before.get("pending") == n, f"expected {n} pending deliveries, found {before}"
    jobs = DBTaskResult.objects.count()
    if args.email_jobs == "clear" and not worker_first:
        DBTaskResult.objects.all().delete()
    jobs_left = DBTaskResult.objects.count()
    connection.close()
    cleared = args.email_jobs == "clear" and not worker_first
    print(
        f"# seeded {n} in {seed_seconds:.1f}s ({n / seed_seconds:.0f}/s); e-mail jobs queued "
        f"by seeding: {jobs}, {'deleted' if cleared else 'kept'} -> {jobs_left} not yet run",
        flush=True,
    )
    return Setup(
        db,
        db_name,
        env,
        logdir,
        partner_port,
        seed_seconds,
        jobs,
        jobs_left,
        worker,
        worker_started,
    )


def poll(args: argparse.Namespace, s: Setup, worker: c.Proc, r: Drain, t0: float) -> None:
    """Watch the delivered count until all are delivered, the timeout, or the PG guard."""
    n = args.leads
    while time.monotonic() - t0 < args.timeout:
        if worker.popen.poll() is not None:
            raise RuntimeError(
                f"the worker exited ({worker.popen.returncode}):\n{c.tail(worker.log)}"
            )
        r.worker_cpu = c.tree_cpu_seconds(worker.popen.pid) or r.worker_cpu
        r.done = delivered_count()
        now = time.monotonic() - t0
        ours = 0
        if s.db_name:
            _, ours, everyone, limit = pg_sessions(s.db_name)
            r.peak_backends = max(r.peak_backends, ours)
            if everyone >= limit - args.pg_headroom:
                # The PostgreSQL server is shared: stop before it refuses anyone else.
                r.guard_tripped = (
                    f"STOPPED: {everyone} client backends on the server "
                    f"(max_connections {limit}), {ours} of them on the bench "
                    "database"
                )
                print(f"# {r.guard_tripped}", flush=True)
                return
        r.samples.append((now, r.done, ours))
        if r.done and r.first_at is None:
            r.first_at, r.first_done = now, r.done
        if r.done >= n:
            return
        time.sleep(0.25)


def worker_argv(args: argparse.Namespace) -> list[str]:
    argv = [*c.TILLIT, "worker"]
    if args.batch:
        argv += ["--batch", str(args.batch)]
    return argv


def run_drain(args: argparse.Namespace, s: Setup) -> Drain:
    r = Drain()
    partner = c.PROCS.start(
        "partner", [*c.TILLIT, "reference-partner", "--port", str(s.partner_port)], s.env, s.logdir
    )
    partner_url = f"http://127.0.0.1:{s.partner_port}"
    c.wait_http(partner_url + "/healthz", partner)
    partner_cpu0 = c.tree_cpu_seconds(partner.popen.pid)
    sessions0 = pg_sessions(s.db_name)[0] if s.db_name else 0
    t0 = time.monotonic()
    worker = c.PROCS.start("worker", worker_argv(args), s.env, s.logdir)
    poll(args, s, worker, r, t0)
    r.seconds = time.monotonic() - t0
    r.sessions = pg_sessions(s.db_name)[0] - sessions0 if s.db_name else 0
    r.worker_mem = c.tree_hwm(worker.popen.pid)
    r.partner_mem = c.tree_hwm(partner.popen.pid)
    r.partner_cpu = c.tree_cpu_seconds(partner.popen.pid) - partner_cpu0
    c.PROCS.stop(worker)
    try:
        r.partner_count = int(httpx.get(partner_url + "/leads.json", timeout=60).json()["count"])
    except (httpx.HTTPError, ValueError, KeyError) as error:
        print(f"# could not read {partner_url}/leads.json: {error}")
    c.PROCS.stop(partner)
    return r


def report(args: argparse.Namespace, s: Setup, r: Drain, total_started: float) -> bool:
    from django.db import connection
    from django_tasks_db.models import DBTaskResult

    from tillit.audit.models import AuditEvent
    from tillit.vault.models import Envelope

    n = args.leads
    after = counts()
    lead_envelopes = Envelope.objects.filter(purpose="lead").count()
    audit_delivered = AuditEvent.objects.filter(action="lead.delivered").count()
    jobs_end = DBTaskResult.objects.exclude(status="SUCCESSFUL").count()
    connection.close()

    complete = r.done >= n
    rate = r.done / r.seconds
    steady = "-"
    if r.first_at is not None and complete:
        steady = f"{(n - r.first_done) / max(r.seconds - r.first_at, 1e-9):.0f}"
    sqlite = s.db == "sqlite"
    rows = [
        [
            "seeding (register+confirm, in-process)",
            f"{n / s.seed_seconds:.0f} leads/s",
            f"{s.seed_seconds:.1f}s for {n}",
            "",
        ],
        [
            "drain: leads/s (worker start -> all delivered)",
            f"{rate:.0f} leads/s",
            ">= 300" if sqlite else "(the target is for SQLite)",
            ("PASS" if rate >= 300 and complete else "FAIL") if sqlite else "",
        ],
        [
            "drain: time to deliver all",
            f"{r.seconds:.1f}s" if complete else f"NOT DONE after {r.seconds:.0f}s ({r.done}/{n})",
            "",
            "",
        ],
        [
            "drain: leads/s from first delivery seen",
            steady,
            f"first seen after {r.first_at:.1f}s" if r.first_at is not None else "",
            "",
        ],
        [
            "worker CPU (cores busy on average)",
            f"{r.worker_cpu / r.seconds:.2f}",
            f"{r.worker_cpu:.1f} CPU-s",
            "",
        ],
        [
            "partner CPU (cores busy on average)",
            f"{r.partner_cpu / r.seconds:.2f}",
            f"{r.partner_cpu:.1f} CPU-s",
            "",
        ],
        ["worker peak memory (VmHWM)", f"{r.worker_mem.max_mb:.0f} MB", str(r.worker_mem), ""],
        ["partner peak memory (VmHWM)", f"{r.partner_mem.max_mb:.0f} MB", str(r.partner_mem), ""],
        [
            "partner /leads.json count",
            str(r.partner_count),
            f"expected {n}",
            "PASS" if r.partner_count == n else "FAIL",
        ],
        [
            "deliveries by state at the end",
            ", ".join(f"{k}={v}" for k, v in sorted(after.items())),
            "",
            "",
        ],
        [
            "lead envelopes left / audit lead.delivered",
            f"{lead_envelopes} / {audit_delivered}",
            f"expected 0 / {n}",
            "PASS" if lead_envelopes == 0 and audit_delivered == n else "FAIL",
        ],
        *(
            [
                [
                    "PostgreSQL sessions opened during the drain",
                    str(r.sessions),
                    f"peak {r.peak_backends} backends on the bench database at once "
                    "(1 is this script's)",
                    "FAIL" if r.guard_tripped else "",
                ]
            ]
            if s.db_name
            else []
        ),
        [
            "e-mail jobs during the drain",
            f"{s.jobs_left} pending at start",
            f"{s.jobs_queued} queued by seeding; {jobs_end} not yet done when all were delivered",
            args.email_jobs,
        ],
    ]
    print()
    print(c.table(rows, ["figure", "value", "detail", "check"]))
    print()
    print(
        "# memory: VmHWM (peak RSS) from /proc/<pid>/status, read just before stopping; "
        "the worker is one process; for the partner (granian master + its worker) 'max' is "
        "the largest single process and 'sum' the sum over its tree"
    )
    step = max(1, len(r.samples) // 12)
    print(
        "# progress (seconds: delivered"
        + (", backends" if s.db_name else "")
        + "): "
        + " ".join(
            f"{t:.0f}:{d}" + (f",{b}" if s.db_name else "")
            for t, d, b in [*r.samples[::step], *r.samples[-1:]]
        )
    )
    print(
        f"# total time {time.monotonic() - total_started:.0f}s; logs in {s.logdir}"
        + ("" if args.keep else " (deleted at exit; use --keep)")
    )
    if r.guard_tripped:
        print(f"# {r.guard_tripped}")
    return complete and r.partner_count == n


# --- after a partner outage (--outage) ------------------------------------------------------


@dataclass
class Backlog:
    states: dict[str, int]
    due_now: int
    latest_retry: float  # seconds from now to the latest next_attempt_at of a pending lead
    attempts: dict[int, int]  # attempts so far -> leads
    claims: int  # attempts so far, all leads
    errors: dict[str, int]


def backlog() -> Backlog:
    from django.db.models import Count, Max, Q, Sum
    from django.utils import timezone

    from tillit.partners.models import Delivery

    now = timezone.now()
    pending = Delivery.objects.filter(state="pending")
    agg = pending.aggregate(
        due=Count("id", filter=Q(next_attempt_at__lte=now)), latest=Max("next_attempt_at")
    )
    hist = Delivery.objects.values("attempts").annotate(n=Count("id")).order_by("attempts")
    errors = Delivery.objects.exclude(last_error="").values("last_error").annotate(n=Count("id"))
    latest = agg["latest"]
    return Backlog(
        states=counts(),
        due_now=agg["due"],
        latest_retry=(latest - now).total_seconds() if latest else 0.0,
        attempts={r["attempts"]: r["n"] for r in hist},
        claims=Delivery.objects.aggregate(n=Sum("attempts"))["n"] or 0,
        errors={r["last_error"]: r["n"] for r in errors},
    )


def partner_lead_ids(data_dir: str) -> list[uuid.UUID]:
    """Every lead_id the reference partner stored, read from its own SQLite database."""
    path = Path(data_dir) / "demo" / "partner" / "partner.sqlite3"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as conn:
        rows = conn.execute("select lead_id from reference_partner_lead").fetchall()
    return [uuid.UUID(str(r[0])) for r in rows]


@dataclass
class Recovery:
    down_seconds: float = 0.0
    start_seconds: float = 0.0  # partner process start -> answering /healthz
    last_delivery: float = 0.0  # partner answering -> the last delivered_at
    seen_done: float = 0.0  # partner answering -> this script saw all delivered
    done: int = 0
    samples: list = field(default_factory=list)
    worker_cpu: float = 0.0
    partner_cpu: float = 0.0
    worker_mem: c.Mem | None = None
    partner_mem: c.Mem | None = None
    partner_count: int = -1
    partner_ids: list = field(default_factory=list)
    peak_backends: int = 0
    server_full: int = 0
    logs: list = field(default_factory=list)
    found: Backlog | None = None
    end: Backlog | None = None


def outage_wait(args: argparse.Namespace, worker: c.Proc, t_worker: float) -> None:
    """The partner stays down --outage seconds more; say how the retries go meanwhile."""
    until = time.monotonic() + args.outage
    while time.monotonic() < until:
        if worker.popen.poll() is not None:
            raise RuntimeError(f"the worker exited:\n{c.tail(worker.log)}")
        time.sleep(min(10.0, max(0.0, until - time.monotonic())))
        b = backlog()
        print(
            f"# outage {time.monotonic() - t_worker:.0f}s: {b.claims} failed attempts so far, "
            f"{b.due_now} leads due now, latest retry in {b.latest_retry:.0f}s",
            flush=True,
        )


def recover(args: argparse.Namespace, s: Setup, worker: c.Proc, t_worker: float) -> Recovery:
    from django.db import connection
    from django.db.models import Max

    from tillit.partners.models import Delivery

    r = Recovery()
    t_start = time.monotonic()
    partner = c.PROCS.start(
        "partner", [*c.TILLIT, "reference-partner", "--port", str(s.partner_port)], s.env, s.logdir
    )
    partner_url = f"http://127.0.0.1:{s.partner_port}"
    c.wait_http(partner_url + "/healthz", partner, timeout=120)
    t_up = time.monotonic()
    up_wall = time.time()
    # The backlog as the partner found it: the worker failed on until this moment.
    r.found = backlog()
    r.start_seconds, r.down_seconds = t_up - t_start, t_up - t_worker
    worker_cpu0 = c.tree_cpu_seconds(worker.popen.pid)
    partner_cpu0 = c.tree_cpu_seconds(partner.popen.pid)
    next_note = t_up + 30
    while time.monotonic() - t_up < args.timeout:
        if worker.popen.poll() is not None:
            raise RuntimeError(f"the worker exited:\n{c.tail(worker.log)}")
        r.done = delivered_count()
        if s.db_name:
            try:
                r.peak_backends = max(r.peak_backends, pg_sessions(s.db_name)[1])
            except psycopg.OperationalError:
                r.server_full += 1  # the server refused us too: at max_connections
        now = time.monotonic()
        r.samples.append((now - t_up, r.done, 0))
        if r.done >= args.leads:
            break
        if now >= next_note:
            print(f"# drain {now - t_up:.0f}s: {r.done} delivered", flush=True)
            next_note += 30
        time.sleep(1.0)
    r.seen_done = time.monotonic() - t_up
    last = Delivery.objects.aggregate(t=Max("delivered_at"))["t"]
    r.last_delivery = last.timestamp() - up_wall if last else float("nan")
    r.worker_cpu = c.tree_cpu_seconds(worker.popen.pid) - worker_cpu0
    r.partner_cpu = c.tree_cpu_seconds(partner.popen.pid) - partner_cpu0
    r.worker_mem = c.tree_hwm(worker.popen.pid)
    r.partner_mem = c.tree_hwm(partner.popen.pid)
    c.PROCS.stop(worker)
    r.end = backlog()
    connection.close()
    try:
        r.partner_count = int(httpx.get(partner_url + "/leads.json", timeout=60).json()["count"])
    except (httpx.HTTPError, ValueError, KeyError) as error:
        print(f"# could not read {partner_url}/leads.json: {error}")
    c.PROCS.stop(partner)
    r.partner_ids = partner_lead_ids(s.env["TILLIT_DATA_DIR"])
    for proc in (worker, partner):
        n, samples = c.log_problems(proc.log)
        if n:
            r.logs.append(f"{proc.name} log: {n} warnings/errors, e.g. " + " | ".join(samples))
    return r


def run_outage(args: argparse.Namespace) -> None:
    c.header(f"bench/drain.py --outage {args.outage:g}: a backlog delivered after a partner outage")
    c.warn_if_busy()
    total_started = time.monotonic()
    s = prepare(args, worker_first=True)
    assert s.worker is not None
    outage_wait(args, s.worker, s.worker_started)
    r = recover(args, s, s.worker, s.worker_started)
    assert r.found is not None
    if not report_outage(args, s, r.found, r, total_started):
        sys.exit(1)


def report_outage(
    args: argparse.Namespace, s: Setup, b: Backlog, r: Recovery, total_started: float
) -> bool:
    from django.db import connection

    from tillit.audit.models import AuditEvent
    from tillit.partners.models import Delivery
    from tillit.vault.models import Envelope

    n = args.leads
    delivered_ids = {
        uuid.UUID(str(i))
        for i in Delivery.objects.filter(state="delivered").values_list("id", flat=True)
    }
    lead_envelopes = Envelope.objects.filter(purpose="lead").count()
    audit_delivered = AuditEvent.objects.filter(action="lead.delivered").count()
    connection.close()
    end = r.end or b
    stored = r.partner_ids
    once = len(stored) == len(set(stored)) == n and set(stored) == delivered_ids
    claims_after = end.claims - b.claims
    leased = b.states.get("leased", 0)
    complete = r.done >= n
    hist = ", ".join(f"{k}x:{v}" for k, v in sorted(b.attempts.items()))
    rows = [
        [
            f"seeding while the worker failed ({args.seed})",
            f"{n / s.seed_seconds:.0f} leads/s",
            f"{s.seed_seconds:.1f}s for {n}",
            "",
        ],
        [
            "outage: worker start -> partner answering",
            f"{r.down_seconds:.0f}s",
            f"--outage {args.outage:g}s after seeding; the partner took {r.start_seconds:.1f}s "
            "to start",
            "",
        ],
        [
            "failed attempts during the outage",
            str(b.claims),
            "errors: " + ", ".join(f"{k} x{v}" for k, v in b.errors.items()),
            "",
        ],
        [
            "backlog when the partner came back",
            ", ".join(f"{k}={v}" for k, v in sorted(b.states.items())),
            f"due at once {b.due_now}; the latest retry {b.latest_retry:.0f}s later",
            "",
        ],
        ["leads by attempts so far", hist, "", ""],
        [
            "drain: partner up -> last delivery",
            f"{r.last_delivery:.1f}s"
            if complete
            else f"NOT DONE after {r.seen_done:.0f}s ({r.done}/{n})",
            f"the first lead taken brings the rest forward (latest retry {b.latest_retry:.0f}s)",
            "",
        ],
        [
            "drain: leads/s (partner up -> last delivery)",
            f"{n / r.last_delivery:.0f} leads/s" if complete else "-",
            ">= 300 (SQLite, bench/drain.py without an outage)",
            "",
        ],
        [
            "worker / partner CPU during the drain (cores)",
            f"{r.worker_cpu / r.seen_done:.2f} / {r.partner_cpu / r.seen_done:.2f}",
            f"{r.worker_cpu:.0f} / {r.partner_cpu:.0f} CPU-s",
            "",
        ],
        [
            "worker / partner peak memory (VmHWM)",
            f"{r.worker_mem.max_mb:.0f} / {r.partner_mem.max_mb:.0f} MB",
            f"partner {r.partner_mem}",
            "",
        ],
        [
            "partner /leads.json count",
            str(r.partner_count),
            f"expected {n}",
            "PASS" if r.partner_count == n else "FAIL",
        ],
        [
            "partner's stored lead_ids: rows / distinct",
            f"{len(stored)} / {len(set(stored))}",
            f"equal to the {len(delivered_ids)} delivered ids: "
            f"{'yes' if set(stored) == delivered_ids else 'NO'}",
            "PASS" if once else "FAIL",
        ],
        [
            "claims after the partner came back",
            str(claims_after),
            f"{n - leased}..{n} if each lead was sent once ({leased} were leased at the "
            "moment it came back); more = retries or repeats",
            "PASS" if n - leased <= claims_after <= n else "CHECK",
        ],
        [
            "deliveries by state at the end",
            ", ".join(f"{k}={v}" for k, v in sorted(end.states.items())),
            "",
            "",
        ],
        [
            "lead envelopes left / audit lead.delivered",
            f"{lead_envelopes} / {audit_delivered}",
            f"expected 0 / {n}",
            "PASS" if lead_envelopes == 0 and audit_delivered == n else "FAIL",
        ],
    ]
    print()
    print(c.table(rows, ["figure", "value", "detail", "check"]))
    step = max(1, len(r.samples) // 12)
    print()
    print(
        "# progress after the partner came back (seconds: delivered): "
        + " ".join(f"{t:.0f}:{d}" for t, d, _ in [*r.samples[::step], *r.samples[-1:]])
    )
    if s.db_name:
        print(
            f"# most PostgreSQL backends on the bench database at once: {r.peak_backends}; "
            f"readings refused by a full server (too many clients): {r.server_full}"
        )
    for line in r.logs:
        print(f"# {line}")
    print(
        f"# total time {time.monotonic() - total_started:.0f}s; logs in {s.logdir}"
        + ("" if args.keep else " (deleted at exit; use --keep)")
    )
    return complete and once and r.partner_count == n


def main() -> None:
    args = parse_args()
    if args.timeout is None:
        args.timeout = 150 + args.leads / 20 + (args.outage or 0)
    c.install_cleanup()
    if args.outage is not None:
        run_outage(args)
        return
    c.header("bench/drain.py: one worker delivering seeded leads to the reference partner")
    c.warn_if_busy()
    total_started = time.monotonic()
    s = prepare(args)
    r = run_drain(args, s)
    if not report(args, s, r, total_started):
        sys.exit(1)


if __name__ == "__main__":
    try:
        main()
    finally:
        c.cleanup_now()
