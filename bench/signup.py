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
        out: dict = {"db": db, "server": server, "data_dir": str(data_dir)}
        for mode, url in (("healthz", base + "/healthz"), ("signup", base + "/")):
            if args.warmup:
                wrk(
                    url,
                    scripts[mode, "warm"],
                    args.warmup,
                    args.wrk_threads,
                    args.connections,
                    logdir,
                    f"{mode}-warm",
                    web.popen.pid,
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
                web.popen.pid,
            )
            out[mode] = res
            out[mode + "_subjects"] = settled_count(db_url, data_dir) - before
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


def main() -> None:
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
    args = p.parse_args()

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

    rows = []
    for r in results:
        for mode in ("healthz", "signup"):
            x: Result = r[mode]
            rows.append(
                [
                    r["db"],
                    r["server"],
                    mode,
                    f"{x.rps:.0f}",
                    f"{x.p50:.1f}",
                    f"{x.p99:.1f}",
                    f"{x.max:.0f}",
                    str(x.requests),
                    str(x.bad),
                    str(x.socket_errors),
                    f"{x.cpu:.0%}",
                    f"{x.server_cores:.2f}",
                    str(r["signup_subjects"]) if mode == "signup" else "-",
                ]
            )
    print()
    print(
        c.table(
            rows,
            [
                "db",
                "server",
                "endpoint",
                "req/s",
                "p50 ms",
                "p99 ms",
                "max ms",
                "requests",
                "non-2xx/3xx",
                "sock err",
                "machine cpu",
                "server cores",
                "sign-ups accepted",
            ],
        )
    )
    rows = []
    for r in results:
        h, s = r["healthz"], r["signup"]
        ratio = s.rps / h.rps if h.rps else 0
        rows.append(
            [
                r["db"],
                r["server"],
                f"{ratio:.1%}",
                "PASS" if ratio >= 0.25 else "FAIL",
                f"{s.p99:.1f}",
                "PASS" if s.p99 < 100 else "FAIL",
                f"{h.p99:.1f}",
                f"{r['mem'].max_mb:.0f}",
                "PASS" if r["mem"].max_mb <= 80 else "FAIL",
                f"{r['mem'].sum_mb:.0f}",
                str(r["mem"].processes),
            ]
        )
    print()
    print(
        c.table(
            rows,
            [
                "db",
                "server",
                "signup/healthz",
                ">=25%",
                "signup p99 ms",
                "<100ms",
                "healthz p99 ms",
                "HWM max MB",
                "<=80MB",
                "HWM sum MB",
                "procs",
            ],
        )
    )
    recorded = [r for r in results if "record" in r]
    if recorded:
        print()
        print(
            c.table(
                [
                    [
                        r["db"],
                        r["server"],
                        str(r["record"]["waiting"]),
                        str(r["record"]["left"]),
                        f"{r['record']['seconds']:.1f}",
                        f"{r['record']['rate']:.0f}",
                        f"{r['record']['cpu_ms']:.2f}",
                        f"{r['record']['hwm_mb']:.0f}",
                        str(r["record"]["subjects"]),
                    ]
                    for r in recorded
                ],
                [
                    "db",
                    "server",
                    "accepted",
                    "left",
                    "seconds",
                    "recorded/s",
                    "worker CPU ms each",
                    "worker HWM MB",
                    "subjects",
                ],
            )
        )
    print()
    print(
        "# targets: sign-up req/s >= 25% of the same server's /healthz req/s; sign-up p99 "
        "< 100 ms at 32 connections; peak memory of one web process <= 80 MB"
    )
    print(
        "# recording: after the web server stopped, one `tillit worker` (no partner running, "
        "nothing confirmed, so nothing is delivered) turned every accepted sign-up into its "
        "subject, consent records, lead, delivery, e-mail job and audit event; 'recorded/s' is "
        "from the first recorded to the last, 'subjects' should equal 'accepted' (all runs, "
        "warm-up included) unless the same address came twice"
    )
    print(
        "# memory: VmHWM (peak RSS) from /proc/<pid>/status of every process of the "
        "server's tree (master + workers), read before stopping it; 'max' = largest single "
        "process, 'sum' = sum over the tree (an upper bound: peaks need not coincide)"
    )
    print(
        "# 'machine cpu' = share of the whole machine's CPU time (all cores, all processes: "
        "wrk, server, database, anything else running) that was not idle during the run; "
        "'server cores' = CPU seconds used by the web server's process tree per second "
        "(2.00 = both cores)"
    )
    print(
        "# 'sign-ups accepted' = sealed intakes added during the measured sign-up run (counted "
        "once the count settles; it can exceed the 3xx count by up to the connection count: "
        "requests in flight when wrk stopped complete too); e-mail jobs queued (none run): "
        + ", ".join(f"{r['db']}/{r['server']}={r['tasks']}" for r in results)
    )
    print(f"# total time {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    try:
        main()
    finally:
        c.cleanup_now()
