"""bench/drain.py --outage: the backlog a partner outage leaves, and its drain.

While the partner is down the worker fails each attempt and puts the lead back with the
product's backoff; `outage_wait` says how the retries go. `backlog` reads the backlog (leads by
state, due at once, the latest retry, attempts so far). `recover` starts the partner, watches
the backlog drain and reads what the partner stored (`partner_lead_ids`, from its own
database); Recovery holds what was measured.
"""

from __future__ import annotations

import argparse
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

import _common as c
from _drain_counts import counts, delivered_count, pg_sessions
from _drain_setup import Setup


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
    """Start the partner, take the backlog it finds, watch it drain; then measure both
    processes, stop them, and read what the partner stored."""
    from django.db import connection

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
    watch(args, s, worker, r, t_up)
    r.seen_done = time.monotonic() - t_up
    r.last_delivery = last_delivery_since(up_wall)
    r.worker_cpu = c.tree_cpu_seconds(worker.popen.pid) - worker_cpu0
    r.partner_cpu = c.tree_cpu_seconds(partner.popen.pid) - partner_cpu0
    r.worker_mem = c.tree_hwm(worker.popen.pid)
    r.partner_mem = c.tree_hwm(partner.popen.pid)
    c.PROCS.stop(worker)
    r.end = backlog()
    connection.close()
    what_the_partner_stored(r, s, partner, partner_url)
    for proc in (worker, partner):
        n, samples = c.log_problems(proc.log)
        if n:
            r.logs.append(f"{proc.name} log: {n} warnings/errors, e.g. " + " | ".join(samples))
    return r


def watch(args: argparse.Namespace, s: Setup, worker: c.Proc, r: Recovery, t_up: float) -> None:
    """Poll the delivered count (and the PostgreSQL backends) each second until every lead is
    delivered or --timeout passes; say how it goes every 30 s."""
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


def last_delivery_since(up_wall: float) -> float:
    """Seconds from `up_wall` (the partner answering) to the last delivered_at."""
    from django.db.models import Max

    from tillit.partners.models import Delivery

    last = Delivery.objects.aggregate(t=Max("delivered_at"))["t"]
    return last.timestamp() - up_wall if last else float("nan")


def what_the_partner_stored(r: Recovery, s: Setup, partner: c.Proc, partner_url: str) -> None:
    """The partner's /leads.json count; then, with it stopped, the lead ids in its database."""
    try:
        r.partner_count = int(httpx.get(partner_url + "/leads.json", timeout=60).json()["count"])
    except (httpx.HTTPError, ValueError, KeyError) as error:
        print(f"# could not read {partner_url}/leads.json: {error}")
    c.PROCS.stop(partner)
    r.partner_ids = partner_lead_ids(s.env["TILLIT_DATA_DIR"])
