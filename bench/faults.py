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
import json
import random
import sys
import time

import _common as c
import _faults_report
from _faults_campaign import KINDS, Campaign
from _faults_canary import canary_checks
from _faults_checks import Check, verify
from _faults_drain import drain
from _faults_load import Load
from _faults_report import Run, build_report, print_report, say
from _faults_site import set_up

# The campaign's parts, each in a module of its own: _faults_cluster (its PostgreSQL server and
# tmpfs disks), _faults_proxy (the load balancer and the partner's fault proxy), _faults_site
# (the processes, their supervisor, the set-up), _faults_load (the people and their inboxes),
# _faults_campaign (the faults), _faults_drain, _faults_checks and _faults_canary (the end),
# _faults_report (what is printed).


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
    args = parse_args()
    if args.seed is None:
        args.seed = random.randrange(1_000_000)
    if args.json:
        _faults_report.OUT = sys.stderr
    c.install_cleanup()
    run = start(args)
    drained = load_and_faults(args, run)
    checks = finish(run, drained)
    report = build_report(args, run, drained, checks)
    print_report(report, checks)
    if args.json:
        print(json.dumps(report, indent=2, default=str), flush=True)
    return 0 if report["ok"] else 1


def start(args: argparse.Namespace) -> Run:
    """The header, a work directory and the site set up in it; the faults it can take."""
    started = time.monotonic()
    stdout, sys.stdout = sys.stdout, _faults_report.OUT
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
    return Run(site, skipped, kinds, rng, logdir, started)


def load_and_faults(args: argparse.Namespace, run: Run) -> tuple[float, dict[str, int]]:
    """The load for --seconds with the faults landing in it; then the worker drains."""
    site = run.site
    load = Load(args, f"http://127.0.0.1:{site.lb.port}", f"{args.seed:06d}",  # type: ignore[attr-defined]
                site.data_dir / "demo" / "mail")  # type: ignore[attr-defined]  # fmt: skip
    run.load = load
    load.start()
    t0 = time.monotonic()
    gap_max = args.gap or min(20.0, max(3.0, args.seconds / 20))
    run.campaign = Campaign(site, run.kinds, run.rng, t0)
    run.campaign.run(args.seconds, (1.0, gap_max))
    time.sleep(max(0.0, t0 + args.seconds - time.monotonic()))
    say(f"# load stops after {time.monotonic() - t0:.0f}s; draining ...")
    load.stop()
    until_up = time.monotonic()
    while not site.supervisor.alive() and time.monotonic() - until_up < 30:
        time.sleep(0.2)
    drained = drain(site, args.drain)
    say("# drained in " + (f"{drained[0]:.0f}s" if drained[0] >= 0 else f"TIMEOUT {drained[1]}"))
    return drained


def finish(run: Run, drained: tuple[float, dict[str, int]]) -> list[Check]:
    """The checks on both sides; then, with every process stopped, the canary scan, and whether
    any process died that the campaign did not kill and the worker drained in time."""
    site = run.site
    result = verify(site, run.load)
    run.figures = result["figures"]
    site.supervisor.running = False
    site.supervisor.join(5)
    c.PROCS.stop_all()
    canary_check, _ = canary_checks(site, run.load, run.logdir)
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
    return checks


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        c.cleanup_now()
