"""What bench/drain.py prints after a drain: the figures, the checks and the progress.

`report` reads what tillit's database holds at the end (AtTheEnd), prints the seeding and
drain rates, the worker's and partner's CPU and memory, and checks that the partner has every
lead and that no lead envelope is left; it says whether the run passed.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import _common as c
from _drain_counts import counts
from _drain_run import Drain
from _drain_setup import Setup


@dataclass
class AtTheEnd:
    """What tillit's database holds once the drain is over."""

    states: dict[str, int]
    lead_envelopes: int
    audit_delivered: int
    jobs_end: int


def at_the_end() -> AtTheEnd:
    from django.db import connection
    from django_tasks_db.models import DBTaskResult

    from tillit.audit.models import AuditEvent
    from tillit.vault.models import Envelope

    after = counts()
    lead_envelopes = Envelope.objects.filter(purpose="lead").count()
    audit_delivered = AuditEvent.objects.filter(action="lead.delivered").count()
    jobs_end = DBTaskResult.objects.exclude(status="SUCCESSFUL").count()
    connection.close()
    return AtTheEnd(after, lead_envelopes, audit_delivered, jobs_end)


def report(args: argparse.Namespace, s: Setup, r: Drain, total_started: float) -> bool:
    """Print the figures and checks; True when every lead was delivered and is at the partner."""
    n = args.leads
    end = at_the_end()
    complete = r.done >= n
    rows = [*drain_rows(args, s, r, complete), *check_rows(args, s, r, end)]
    print()
    print(c.table(rows, ["figure", "value", "detail", "check"]))
    print()
    print_notes(args, s, r, total_started)
    return complete and r.partner_count == n


def drain_rows(args: argparse.Namespace, s: Setup, r: Drain, complete: bool) -> list[list[str]]:
    """The seeding rate, the drain's rate and time, and what the worker and partner used."""
    n = args.leads
    rate = r.done / r.seconds
    steady = "-"
    if r.first_at is not None and complete:
        steady = f"{(n - r.first_done) / max(r.seconds - r.first_at, 1e-9):.0f}"
    sqlite = s.db == "sqlite"
    return [
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
    ]


def check_rows(args: argparse.Namespace, s: Setup, r: Drain, end: AtTheEnd) -> list[list[str]]:
    """What the partner got and what is left in tillit's database, with the checks."""
    n = args.leads
    after, lead_envelopes, audit_delivered = end.states, end.lead_envelopes, end.audit_delivered
    jobs_end = end.jobs_end
    return [
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


def print_notes(args: argparse.Namespace, s: Setup, r: Drain, total_started: float) -> None:
    """How memory was read, the progress of the drain, the total time and the PG guard."""
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
