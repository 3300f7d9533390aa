"""The site bench/drain.py drains: a fresh data directory and database, with N leads seeded.

`prepare` runs `tillit init --demo` in a fresh data directory (and, with --postgres, a throwaway
PostgreSQL database), then seeds the leads in this process; for the outage it starts the worker
first, with the partner down. Setup holds what the run needs of it afterwards. `worker_argv` is
the worker's command line.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from pathlib import Path

import _common as c
from _drain_counts import counts
from _drain_seed import seed, seed_bulk, setup_django


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


def prepare(args: argparse.Namespace, worker_first: bool = False) -> Setup:
    """A fresh site with --leads seeded; with `worker_first` (the outage) the worker is started
    before the first lead, with the partner down."""
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
        worker, worker_started = start_worker_alone(args, env, logdir)
    seed_seconds, jobs, jobs_left = seed_leads(args, db, worker_first)
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


def start_worker_alone(
    args: argparse.Namespace, env: dict[str, str], logdir: Path
) -> tuple[c.Proc, float]:
    """The outage starts before the first lead: the worker runs, the partner does not."""
    worker = c.PROCS.start("worker", worker_argv(args), env, logdir)
    worker_started = time.monotonic()
    time.sleep(1.0)
    if worker.popen.poll() is not None:
        raise RuntimeError(f"the worker exited:\n{c.tail(worker.log)}")
    return worker, worker_started


def seed_leads(args: argparse.Namespace, db: str, worker_first: bool) -> tuple[float, int, int]:
    """Seed --leads as --seed says, and clear or keep the e-mail jobs that queued; returns the
    seconds it took, the jobs queued and the jobs left to run."""
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
    return seed_seconds, jobs, jobs_left


def worker_argv(args: argparse.Namespace) -> list[str]:
    argv = [*c.TILLIT, "worker"]
    if args.batch:
        argv += ["--batch", str(args.batch)]
    return argv
