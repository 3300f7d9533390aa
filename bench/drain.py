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
import sys
import time

import _common as c
from _drain_outage import outage_wait, recover
from _drain_outage_report import report_outage
from _drain_report import report
from _drain_run import run_drain

# bench/scale.py seeds its backlog as this script does, through drain.setup_django, drain.seed
# and drain.seed_bulk.
from _drain_seed import seed, seed_bulk, setup_django  # noqa: F401
from _drain_setup import prepare

# The parts, each in a module of its own: _drain_seed (seeding the leads), _drain_setup (the
# site and its seeded backlog), _drain_counts (what is read while it runs), _drain_run and
# _drain_report (the drain and its report), _drain_outage and _drain_outage_report (--outage).


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Time one `tillit worker` delivering N seeded leads to the reference "
        "partner over HTTP.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_backlog_options(p)
    add_run_options(p)
    return p.parse_args()


def add_backlog_options(p: argparse.ArgumentParser) -> None:
    """How many leads, on which database, seeded how many to a transaction, with which jobs."""
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


def add_run_options(p: argparse.ArgumentParser) -> None:
    """The worker's settings, the seeding, the outage, the time allowed and the PG guard."""
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
