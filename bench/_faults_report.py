"""The fault campaign's report (bench/faults.py): where the human text goes, and what it says.

`say` prints a line of the human report to OUT: stdout, or stderr when --json takes stdout for
the one JSON document. Run holds what a campaign was made of and found; `build_report` makes
that document from it, and `print_report` prints its figures as a table and every check with
PASS or FAIL.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import _common as c

if TYPE_CHECKING:
    from _faults_campaign import Campaign
    from _faults_checks import Check
    from _faults_load import Load
    from _faults_site import Site

OUT = sys.stdout  # the human report; stderr when --json takes stdout


def say(text: str) -> None:
    print(text, file=OUT, flush=True)


@dataclass
class Run:
    """A campaign: its site, the faults it injects (and those it cannot), its load and findings."""

    site: Site
    skipped: list[str]
    kinds: list[str]
    rng: random.Random
    logdir: Path
    started: float
    load: Load | None = None
    campaign: Campaign | None = None
    figures: dict = field(default_factory=dict)


def build_report(
    args: argparse.Namespace, run: Run, drained: tuple[float, dict[str, int]], checks: list[Check]
) -> dict:
    """The campaign's figures as one document (what --json prints)."""
    site = run.site
    faults = Counter(f.kind for f in run.campaign.faults)
    return {
        "command": c.command_line(),
        "seed": args.seed,
        "seconds": args.seconds,
        "rate": args.rate,
        **run.figures,
        "faults": {k: faults.get(k, 0) for k in run.kinds},
        "faults_total": sum(faults.values()),
        "faults_skipped": run.skipped,
        "partner_proxy": dict(site.partner_proxy.seen),
        "restarts": {s.name: s.restarts for s in site.supervisor.services},
        "postgresql_started_by_supervisor": site.pg.restarts_by_supervisor if site.pg else 0,
        "drain_seconds": round(drained[0], 1),
        "checks": [{"name": k.name, "ok": k.ok, "detail": k.detail} for k in checks],
        "ok": all(k.ok for k in checks),
        "wall_seconds": round(time.monotonic() - run.started, 1),
    }


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
