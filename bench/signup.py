"""Sign-ups per second through the real HTTP path, next to the same server's /healthz.

For each database (SQLite, PostgreSQL) and each server (granian, gunicorn) asked for, this
script makes a fresh data directory (and a throwaway PostgreSQL database), runs
`tillit init --demo`, starts `tillit web --server S` exactly as an operator would, and then
drives it with wrk: first GET /healthz (the baseline: a view with no database), then POST /
with a real sign-up (a unique e-mail per request). Each wrk measurement follows a short
warm-up. No worker runs meanwhile, so the sign-ups just queue: this measures the web path.

Printed: req/s, p50, p99, max latency, responses that were not 2xx/3xx, socket errors, the
ratio sign-up/healthz, the number of sign-ups actually accepted (sealed intakes: a cross-check
that every 302 was a sign-up) and the peak memory (VmHWM) of the server's process tree (max of
one process and sum over the tree). Then one `tillit worker` records the accepted sign-ups
(subjects/intake.py) and its rate is printed: the web path only seals, so the worker must keep
up with it.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from pathlib import Path

import _common as c
from _signup_report import notes, recording_table, targets_table, throughput_table
from _wrk import INTAKE, LUA, Result, count_rows, csrf_pair, wrk

SUBJECTS = "select count(*) from subjects_subject"


def settled_count(db_url: str, data_dir: Path, timeout: float = 15.0) -> int:
    """Sign-ups accepted (sealed intakes) once requests still in flight have finished."""
    last = count_rows(db_url, data_dir, INTAKE)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now = count_rows(db_url, data_dir, INTAKE)
        if now == last:
            return now
        last = now
    return last


def record_backlog(
    db_url: str, data_dir: Path, env: dict, logdir: Path, timeout: float
) -> dict[str, float]:
    """Start one `tillit worker` and time it recording every accepted sign-up (the intake
    becomes subject, consent records, lead, delivery, e-mail job and audit event)."""
    waiting = count_rows(db_url, data_dir, INTAKE)
    worker = c.PROCS.start("worker", [*c.TILLIT, "worker"], env, logdir)
    started = time.monotonic()
    cpu0 = c.tree_cpu_seconds(worker.popen.pid)
    first = last = None
    left = waiting
    try:
        while time.monotonic() - started < timeout and left:
            time.sleep(0.2)
            left = count_rows(db_url, data_dir, INTAKE)
            if first is None and left < waiting:
                first = time.monotonic()
            if not left:
                last = time.monotonic()
        cpu = c.tree_cpu_seconds(worker.popen.pid) - cpu0
        hwm = c.vm_kb(worker.popen.pid) / 1024
    finally:
        c.PROCS.stop(worker)
    span = (last or time.monotonic()) - (first or started)
    return {
        "waiting": waiting,
        "left": left,
        "seconds": span,
        "rate": (waiting - left) / span if span > 0 else 0.0,
        "cpu_ms": 1000 * cpu / max(waiting - left, 1),
        "hwm_mb": hwm,
        "subjects": count_rows(db_url, data_dir, SUBJECTS),
    }


def one_combo(db: str, server: str, args: argparse.Namespace, wrk_argv_shown: list) -> dict:
    data_dir, logdir, db_url, env = c.fresh_site(
        f"tillit-bench-signup-{db}-{server}-", db == "postgres", keep=args.keep
    )
    port = c.free_port()
    web_argv = [*c.TILLIT, "web", "--port", str(port), "--server", server]
    if args.workers:
        web_argv += ["--workers", str(args.workers)]
    if args.web_threads:
        web_argv += ["--threads", str(args.web_threads)]
    web = c.PROCS.start(f"web-{server}", web_argv, env, logdir)
    base = f"http://127.0.0.1:{port}"
    try:
        c.wait_http(base + "/healthz", web)
        cookie, token = csrf_pair(base)
        scripts = lua_scripts(data_dir, cookie, token)
        out: dict = {"db": db, "server": server, "data_dir": str(data_dir)}
        for mode, url in (("healthz", base + "/healthz"), ("signup", base + "/")):
            res, subjects, argv = measure(
                args, mode, url, scripts, logdir, web.popen.pid, db_url, data_dir
            )
            out[mode], out[mode + "_subjects"] = res, subjects
            if mode == "signup" and not wrk_argv_shown:
                wrk_argv_shown.append(argv)
        out["mem"] = c.tree_hwm(web.popen.pid)
    finally:
        c.PROCS.stop(web)
    if args.record:
        out["record"] = record_backlog(db_url, data_dir, env, logdir, args.record_timeout)
    out["tasks"] = count_rows(
        db_url, data_dir, "select count(*) from django_tasks_database_dbtaskresult"
    )
    return out


def lua_scripts(data_dir: Path, cookie: str, token: str) -> dict[tuple[str, str], Path]:
    """The wrk scripts of each endpoint (healthz, signup) and phase (warm, run), written to
    data_dir: each sign-up a new address under this run's prefix."""
    prefix = secrets.token_hex(4)
    scripts = {}
    for mode in ("healthz", "signup"):
        for phase in ("warm", "run"):
            path = data_dir / f"{mode}-{phase}.lua"
            path.write_text(
                LUA
                % {
                    "mode": mode,
                    "prefix": f"{prefix}{phase[0]}",
                    "token": token,
                    "cookie": cookie,
                    "consent_body": "",
                }
            )
            scripts[mode, phase] = path
    return scripts


def measure(
    args: argparse.Namespace,
    mode: str,
    url: str,
    scripts: dict[tuple[str, str], Path],
    logdir: Path,
    web_pid: int,
    db_url: str,
    data_dir: Path,
) -> tuple[Result, int, list[str]]:
    """One endpoint: wrk's warm-up, then the measured run: (wrk's result, sign-ups accepted
    during the run, wrk's argv)."""
    if args.warmup:
        wrk(
            url,
            scripts[mode, "warm"],
            args.warmup,
            args.wrk_threads,
            args.connections,
            logdir,
            f"{mode}-warm",
            web_pid,
        )
    before = settled_count(db_url, data_dir)
    res, argv = wrk(
        url,
        scripts[mode, "run"],
        args.duration,
        args.wrk_threads,
        args.connections,
        logdir,
        mode,
        web_pid,
    )
    return res, settled_count(db_url, data_dir) - before, argv


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Sign-ups/s through `tillit web` vs the same server's /healthz (wrk).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    g.add_argument(
        "--postgres",
        dest="db",
        action="store_const",
        const="postgres",
        help="PostgreSQL only (same as --db postgres)",
    )
    g.add_argument(
        "--sqlite",
        dest="db",
        action="store_const",
        const="sqlite",
        help="SQLite only (same as --db sqlite)",
    )
    p.add_argument("--server", choices=["granian", "gunicorn", "both"], default="both")
    p.add_argument("--duration", type=int, default=10, help="seconds measured per endpoint")
    p.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per endpoint")
    p.add_argument("--connections", type=int, default=32, help="wrk -c")
    p.add_argument("--wrk-threads", type=int, default=2, help="wrk -t")
    p.add_argument(
        "--workers", type=int, default=0, help="tillit web --workers (0: the product's default)"
    )
    p.add_argument(
        "--web-threads", type=int, default=0, help="tillit web --threads (0: the product's default)"
    )
    p.add_argument(
        "--no-record",
        dest="record",
        action="store_false",
        help="skip timing one worker recording the accepted sign-ups afterwards",
    )
    p.add_argument("--record-timeout", type=float, default=300.0, help="seconds")
    p.add_argument("--keep", action="store_true", help="keep the data directories and logs")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    c.install_cleanup()
    c.header("bench/signup.py: sign-ups per second vs /healthz, through `tillit web`")
    c.warn_if_busy()
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    servers = ["granian", "gunicorn"] if args.server == "both" else [args.server]
    print(
        f"# wrk -t{args.wrk_threads} -c{args.connections} -d{args.duration}s --latency "
        f"(after {args.warmup}s warm-up per endpoint); web workers/threads: "
        f"{args.workers or 'default'}/{args.web_threads or 'default'}; "
        "no worker running during the wrk runs"
    )
    sys.stdout.flush()
    started = time.monotonic()
    results, shown = [], []
    for db in dbs:
        for server in servers:
            print(f"# running {db} / {server} ...", flush=True)
            results.append(one_combo(db, server, args, shown))
    if shown:
        print(f"# wrk command (sign-up run): {' '.join(shown[0])}")

    throughput_table(results)
    targets_table(results)
    recording_table(results)
    notes(results)
    print(f"# total time {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    try:
        main()
    finally:
        c.cleanup_now()
