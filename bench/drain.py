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
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field

import httpx

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
    p.add_argument("--timeout", type=float, default=150, help="seconds allowed for the drain")
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


def prepare(args: argparse.Namespace) -> Setup:
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

    from django.conf import settings
    from django.db import connection
    from django_tasks_db.models import DBTaskResult

    n = args.leads
    print(
        f"# database: {db}; leads: {n}; seeding in this process with register()+confirm(), "
        f"{args.seed_batch} per transaction; worker batch "
        f"{args.batch or 'default (64)'}, delivery concurrency "
        f"{settings.DELIVERY_CONCURRENCY}",
        flush=True,
    )
    seed_seconds = seed(n, args.seed_batch, os.urandom(4).hex())
    before = counts()
    assert before.get("pending") == n, f"expected {n} pending deliveries, found {before}"
    jobs = DBTaskResult.objects.count()
    if args.email_jobs == "clear":
        DBTaskResult.objects.all().delete()
    jobs_left = DBTaskResult.objects.count()
    connection.close()
    print(
        f"# seeded {n} in {seed_seconds:.1f}s; e-mail jobs queued by register: {jobs}, "
        f"{'deleted' if args.email_jobs == 'clear' else 'kept'} -> {jobs_left} pending "
        "during the drain",
        flush=True,
    )
    return Setup(db, db_name, env, logdir, partner_port, seed_seconds, jobs, jobs_left)


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


def run_drain(args: argparse.Namespace, s: Setup) -> Drain:
    r = Drain()
    partner = c.PROCS.start(
        "partner", [*c.TILLIT, "reference-partner", "--port", str(s.partner_port)], s.env, s.logdir
    )
    partner_url = f"http://127.0.0.1:{s.partner_port}"
    c.wait_http(partner_url + "/healthz", partner)
    partner_cpu0 = c.tree_cpu_seconds(partner.popen.pid)
    worker_argv = [*c.TILLIT, "worker"]
    if args.batch:
        worker_argv += ["--batch", str(args.batch)]
    sessions0 = pg_sessions(s.db_name)[0] if s.db_name else 0
    t0 = time.monotonic()
    worker = c.PROCS.start("worker", worker_argv, s.env, s.logdir)
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


def main() -> None:
    args = parse_args()
    c.install_cleanup()
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
