"""Scaling out on one machine: 1 vs 2 `tillit web` processes, 1 vs 2 `tillit worker` processes.

On PostgreSQL (a throwaway database for each measurement), as an operator adding a second
machine would:

* sign-ups per second: `tillit web --port P` started once and then twice (each process with
  the same --web-workers/--web-threads), wrk driving POST / (a new person per request, as in
  bench/signup.py) against every port at once, with the same total wrk threads and
  connections split between the ports; req/s summed over the ports.
* deliveries per second: one backlog of --leads confirmed leads is seeded once, and each run
  gets its own copy of that database (CREATE DATABASE ... TEMPLATE): 1 and then 2
  `tillit worker` processes drain it to a fresh reference partner; leads/s from the workers'
  start to the last delivery, and a check that every lead reached the partner once.

Printed: the figures, the ratios 2/1 (the ideal is 2.00 at most; with 2 cores shared by
wrk, the servers, the workers, the partner and PostgreSQL it is less), and the CPU each part
used, so that the bound is visible.
"""

from __future__ import annotations

import argparse
import os
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg

import _common as c
import drain
from _cpu import PgCpu, busiest_others, children_cpu_seconds, every_cpu
from _pg import LockSampler, copy_pg_database
from _scale_report import web_report, workers_report
from _wrk import INTAKE, LUA, Result, count_rows, csrf_pair, wrk


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Sign-ups/s with 1 vs 2 `tillit web` processes and deliveries/s with 1 vs "
        "2 `tillit worker` processes, on PostgreSQL; ratios 2/1 and CPU use.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--only", choices=["web", "workers"], help="run one of the two parts")
    p.add_argument("--duration", type=int, default=15, help="wrk seconds measured per setup")
    p.add_argument("--warmup", type=int, default=3, help="wrk seconds of warm-up per setup")
    p.add_argument("--connections", type=int, default=32, help="wrk -c in total over the ports")
    p.add_argument("--wrk-threads", type=int, default=2, help="wrk -t in total over the ports")
    p.add_argument("--server", choices=["granian", "gunicorn"], default="granian")
    p.add_argument(
        "--lock-sample",
        type=float,
        default=50,
        help="ms between samples of pg_stat_activity and pg_locks during the measured sign-up "
        "runs (0: none)",
    )
    p.add_argument("--web-workers", type=int, default=1, help="tillit web --workers (each)")
    p.add_argument("--web-threads", type=int, default=2, help="tillit web --threads (each)")
    p.add_argument("--leads", type=int, default=3000, help="the backlog the workers drain")
    p.add_argument(
        "--seed",
        choices=["domain", "bulk"],
        default="bulk",
        help="how the backlog is seeded (see bench/drain.py --seed)",
    )
    p.add_argument("--seed-batch", type=int, default=200, help="rows per seeding transaction")
    p.add_argument("--partner-workers", type=int, default=1, help="reference partner --workers")
    p.add_argument("--timeout", type=float, default=600, help="seconds allowed for a drain")
    p.add_argument("--keep", action="store_true", help="keep the data directories and logs")
    return p.parse_args()


# --- web processes -------------------------------------------------------------------------


def web_setup(args: argparse.Namespace, n: int) -> dict:
    data_dir = c.temp_dir(f"tillit-bench-scale-web{n}-", keep=args.keep)
    logdir = data_dir / "bench-logs"
    logdir.mkdir()
    db_name, db_url = c.create_pg_database()
    env = c.make_env(data_dir, db_url)
    c.run_init(env, partner_port=c.free_port(), logdir=logdir)
    webs = []
    for k in range(n):
        port = c.free_port()
        argv = [*c.TILLIT, "web", "--port", str(port), "--server", args.server]
        argv += ["--workers", str(args.web_workers), "--threads", str(args.web_threads)]
        proc = c.PROCS.start(f"web{k + 1}", argv, env, logdir)
        c.wait_http(f"http://127.0.0.1:{port}/healthz", proc)
        webs.append((proc, port))
    cookie, token = csrf_pair(f"http://127.0.0.1:{webs[0][1]}")
    prefix = secrets.token_hex(4)
    scripts = {}
    for k in range(n):
        for phase in ("warm", "run"):
            path = data_dir / f"signup-{k}-{phase}.lua"
            values = {"mode": "signup", "prefix": f"{prefix}{k}{phase[0]}", "token": token}
            path.write_text(LUA % {**values, "cookie": cookie, "consent_body": ""})
            scripts[k, phase] = path
    return {"db_name": db_name, "db_url": db_url, "logdir": logdir, "webs": webs, "n": n} | {
        "scripts": scripts
    }


def wrk_all(args: argparse.Namespace, s: dict, phase: str, seconds: int) -> list[Result]:
    """wrk against every port at once, the total threads and connections split evenly."""
    n = s["n"]
    threads, conns = max(1, args.wrk_threads // n), max(1, args.connections // n)
    with ThreadPoolExecutor(max_workers=n) as pool:
        futures = [
            pool.submit(
                wrk,
                f"http://127.0.0.1:{port}/",
                s["scripts"][k, phase],
                seconds,
                threads,
                conns,
                s["logdir"],
                f"signup-{k}-{phase}",
                proc.popen.pid,
            )
            for k, (proc, port) in enumerate(s["webs"])
        ]
        results = [f.result() for f in futures]
    s["argv"] = results[0][1]
    return [r for r, _ in results]


def web_run(args: argparse.Namespace, n: int) -> dict:
    s = web_setup(args, n)
    try:
        if args.warmup:
            wrk_all(args, s, "warm", args.warmup)
        before = count_rows(s["db_url"], Path(), INTAKE)
        sampler = LockSampler(s["db_url"], args.lock_sample / 1000) if args.lock_sample else None
        pg = PgCpu(s["db_name"])
        pg.mark()
        load = os.getloadavg()[0]
        wrk0, machine0, every0 = children_cpu_seconds(), c.machine_cpu(), every_cpu()
        if sampler:
            sampler.start()
        try:
            results = wrk_all(args, s, "run", args.duration)
        finally:
            if sampler:
                sampler.finish()
        machine1, every1 = c.machine_cpu(), every_cpu()
        seconds = max(r.raw["duration_us"] for r in results) / 1e6
        # The sampler's own backend serves the bench database too: not the sign-ups' cost.
        pg_cpu = pg.used() - (sampler.cpu if sampler else 0.0)
        ours = {p for proc, _ in s["webs"] for p in c.tree(proc.popen.pid)}
        ours |= set(pg.seen) | ({sampler.pid} if sampler else set())
        out = {
            "n": n,
            "load": load,
            "results": results,
            "rps": sum(r.rps for r in results),
            "seconds": seconds,
            "web_cpu": sum(r.server_cores * r.raw["duration_us"] / 1e6 for r in results),
            "wrk_cpu": children_cpu_seconds() - wrk0,
            "pg_cpu": pg_cpu,
            "machine_cpu": (machine1[0] - machine0[0]) - (machine1[1] - machine0[1]),
            "sampler": sampler,
            "others": busiest_others(every0, every1, ours),
            "argv": s["argv"],
        }
        out["wrk_cores"], out["pg_cores"] = out["wrk_cpu"] / seconds, out["pg_cpu"] / seconds
        time.sleep(1)  # requests still in flight when wrk stopped
        out["subjects"] = count_rows(s["db_url"], Path(), INTAKE) - before
        return out
    finally:
        for proc, _ in s["webs"]:
            c.PROCS.stop(proc)


# --- worker processes ----------------------------------------------------------------------


def seed_backlog(args: argparse.Namespace) -> dict:
    data_dir = c.temp_dir("tillit-bench-scale-workers-", keep=args.keep)
    logdir = data_dir / "bench-logs"
    logdir.mkdir()
    db_name, db_url = c.create_pg_database()
    env = c.make_env(data_dir, db_url)
    partner_port = c.free_port()
    c.run_init(env, partner_port, logdir)
    drain.setup_django(env)
    from django.db import connection
    from django_tasks_db.models import DBTaskResult

    seeder = drain.seed if args.seed == "domain" else drain.seed_bulk
    seconds = seeder(args.leads, args.seed_batch, secrets.token_hex(4))
    DBTaskResult.objects.all().delete()  # only deliveries are measured
    connection.close()
    print(
        f"# seeded {args.leads} confirmed leads ({args.seed}) in {seconds:.0f}s; each worker "
        "run drains its own copy of that database",
        flush=True,
    )
    secret = (data_dir / "demo" / "partner" / "secret").read_text().strip()
    return {
        "data_dir": data_dir,
        "logdir": logdir,
        "template": db_name,
        "env": env,
        "partner_port": partner_port,
        "secret": secret,
    }


def workers_run(args: argparse.Namespace, s: dict, k: int) -> dict:
    """k workers draining a fresh copy of the seeded backlog to a fresh reference partner:
    their rate, the CPU of each part, and the checks that each lead arrived once."""
    db_name, db_url = copy_pg_database(s["template"])
    env = {**s["env"], "DATABASE_URL": db_url}
    partner, port = start_partner(args, s, k, env)
    try:
        c.wait_http(f"http://127.0.0.1:{port}/healthz", partner)
        partner_cpu0 = c.tree_cpu_seconds(partner.popen.pid)
        load = os.getloadavg()[0]
        pg = PgCpu(db_name)
        pg.mark()
        sampler = LockSampler(db_url, args.lock_sample / 1000) if args.lock_sample else None
        if sampler:
            sampler.start()
        machine0 = c.machine_cpu()
        workers, drained = drain_backlog(args, s, k, env, db_url, pg)
        seconds = drained["seconds"]
        machine1 = c.machine_cpu()
        if sampler:
            sampler.finish()
        total, idle = machine1[0] - machine0[0], machine1[1] - machine0[1]
        out = {
            "k": k,
            "load": load,
            **drained,
            "partner_cores": (c.tree_cpu_seconds(partner.popen.pid) - partner_cpu0) / seconds,
            # The sampler's own backend serves the bench database too: not the leads' cost.
            "pg_cores": (pg.used() - (sampler.cpu if sampler else 0.0)) / seconds,
            "sampler": sampler,
            "pg_peak": pg.peak,
            "pg_sessions": len(pg.seen),
            "machine": (total - idle) / total if total else 0.0,
        }
        for w in workers:
            c.PROCS.stop(w)
            n, samples = c.log_problems(w.log)
            if n:
                print(f"# {w.name} log: {n} warnings/errors, e.g. " + " | ".join(samples))
        return out | delivery_checks(db_url, port)
    finally:
        c.PROCS.stop(partner)


def start_partner(
    args: argparse.Namespace, s: dict, k: int, env: dict[str, str]
) -> tuple[c.Proc, int]:
    """A reference partner of run k, with a data directory of its own, on the port the
    seeded site delivers to."""
    partner_dir = s["data_dir"] / f"partner-{k}"
    partner_dir.mkdir(mode=0o700)
    penv = {**env, "PARTNER_DATA_DIR": str(partner_dir), "PARTNER_SECRET": s["secret"]}
    port = s["partner_port"]
    argv = [*c.TILLIT, "reference-partner", "--port", str(port)]
    argv += ["--workers", str(args.partner_workers)]
    return c.PROCS.start(f"partner-{k}", argv, penv, s["logdir"]), port


DELIVERED_SQL = "select count(*) from partners_delivery where state='delivered'"


def drain_backlog(
    args: argparse.Namespace, s: dict, k: int, env: dict[str, str], db_url: str, pg: PgCpu
) -> tuple[list[c.Proc], dict]:
    """Start k workers and poll until every lead is delivered (or --timeout): the workers,
    and how many were delivered, how fast, and each worker's cores."""
    t0 = time.monotonic()
    workers = [
        c.PROCS.start(f"worker-{k}-{w + 1}", [*c.TILLIT, "worker"], env, s["logdir"])
        for w in range(k)
    ]
    done, cpu, first = 0, {}, None
    while time.monotonic() - t0 < args.timeout:
        for w in workers:
            if w.popen.poll() is not None:
                raise RuntimeError(f"{w.name} exited:\n{c.tail(w.log)}")
            cpu[w.name] = c.tree_cpu_seconds(w.popen.pid) or cpu.get(w.name, 0.0)
        pg.sample()
        try:
            done = count_rows(db_url, Path(), DELIVERED_SQL)
        except psycopg.OperationalError as error:
            # The PostgreSQL server is shared; when it is full, look again shortly.
            print(f"# note: {str(error).strip().splitlines()[-1]}", flush=True)
            time.sleep(1)
            continue
        if done and first is None:
            # The workers are up (Django loaded, connected): the steady rate starts here.
            first = (time.monotonic(), done)
        if done >= args.leads:
            break
        time.sleep(0.25)
    seconds = time.monotonic() - t0
    steady = (done - first[1]) / (time.monotonic() - first[0]) if first else 0.0
    return workers, {
        "done": done,
        "seconds": seconds,
        "rate": done / seconds,
        "steady": steady,
        "startup": first[0] - t0 if first else float("nan"),
        "worker_cores": [v / seconds for v in cpu.values()],
    }


def delivery_checks(db_url: str, port: int) -> dict:
    """The leads at the partner, the claims made (attempts) and the leads claimed more than
    once, with, if any were, the attempts by group and their times."""
    out: dict = {}
    out["partner_count"] = int(
        httpx.get(f"http://127.0.0.1:{port}/leads.json", timeout=60).json()["count"]
    )
    out["claims"] = count_rows(
        db_url, Path(), "select coalesce(sum(attempts), 0) from partners_delivery"
    )
    out["twice"] = count_rows(
        db_url, Path(), "select count(*) from partners_delivery where attempts > 1"
    )
    if out["twice"]:
        # What made them go round again: the attempts, the lease, the times.
        with psycopg.connect(db_url.replace("postgres://", "postgresql://", 1)) as conn:
            rows = conn.execute(
                "select attempts, count(*), min(delivered_at - released_at), "
                "max(delivered_at - released_at) from partners_delivery "
                "group by attempts order by attempts"
            ).fetchall()
        out["detail"] = rows
    return out


def main() -> None:
    args = parse_args()
    c.install_cleanup()
    c.header("bench/scale.py: 1 vs 2 web processes, 1 vs 2 workers, on PostgreSQL")
    c.warn_if_busy()
    started = time.monotonic()
    if args.only != "workers":
        print(
            f"# sign-ups: wrk -t{args.wrk_threads} -c{args.connections} in total, "
            f"{args.duration}s after {args.warmup}s warm-up; no worker running",
            flush=True,
        )
        web_report(args, [web_run(args, n) for n in (1, 2)])
    if args.only != "web":
        s = seed_backlog(args)
        workers_report(args, [workers_run(args, s, k) for k in (1, 2)])
    print()
    print(
        "# cores = CPU seconds per second of the measurement (2.00 = the whole machine): "
        "'web cores' per web process tree, 'PG cores' the PostgreSQL backends serving the "
        "bench database, 'wrk cores' the load generator; 'machine busy' = share of all CPU "
        "time not idle (other users included); 'load avg' = 1-minute load average at the start "
        "of each measurement"
    )
    print(f"# total time {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    try:
        main()
    finally:
        c.cleanup_now()
