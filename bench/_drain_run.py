"""The drain bench/drain.py measures: one worker delivering the seeded leads to the partner.

`run_drain` starts the reference partner and then one `tillit worker`, and `poll` watches the
delivered count until every lead is delivered, --timeout passes, or (with --postgres) the
shared server's client backends come near max_connections. Drain holds what was measured.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field

import httpx

import _common as c
from _drain_counts import delivered_count, pg_sessions
from _drain_setup import Setup, worker_argv


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
