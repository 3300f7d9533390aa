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
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg

import _common as c
import drain
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
        pg = c.PgCpu(s["db_name"])
        pg.mark()
        load = os.getloadavg()[0]
        wrk0, machine0, every0 = c.children_cpu_seconds(), c.machine_cpu(), every_cpu()
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
            "wrk_cpu": c.children_cpu_seconds() - wrk0,
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


def every_cpu() -> dict[int, float]:
    """CPU seconds so far of every process on the machine (this user can read /proc of all)."""
    return c.pids_cpu_seconds([int(p) for p in os.listdir("/proc") if p.isdigit()])


def busiest_others(
    before: dict[int, float], after: dict[int, float], ours: set[int]
) -> list[tuple[float, str]]:
    """The processes other than ours (web trees, the bench database's backends, the sampler's)
    that used the most CPU between the two readings: who else shared the cores."""
    used = sorted(
        ((after[p] - before[p], p) for p in after.keys() & before.keys() if p not in ours),
        reverse=True,
    )
    out = []
    for cpu, pid in used[:5]:
        if cpu < 0.05:
            break
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
            argv = raw.replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            argv = "?"
        out.append((cpu, f"[{pid}] {argv.strip()[:70]}"))
    return out


def web_report(args: argparse.Namespace, runs: list[dict]) -> None:
    rows = []
    for r in runs:
        res: list[Result] = r["results"]
        rows.append(
            [
                f"{r['n']} web",
                f"{r['rps']:.0f}",
                " + ".join(f"{x.rps:.0f}" for x in res),
                f"{max(x.p50 for x in res):.0f}",
                f"{max(x.p99 for x in res):.0f}",
                str(sum(x.bad for x in res)),
                str(sum(x.socket_errors for x in res)),
                str(r["subjects"]),
                " + ".join(f"{x.server_cores:.2f}" for x in res),
                f"{r['pg_cores']:.2f}",
                f"{r['wrk_cores']:.2f}",
                f"{sum(x.cpu for x in res) / len(res):.0%}",
                f"{r['load']:.1f}",
            ]
        )
    print()
    print(
        c.table(
            rows,
            [
                "sign-ups",
                "req/s",
                "per port",
                "p50 ms",
                "p99 ms",
                "non-2xx/3xx",
                "sock err",
                "sign-ups accepted",
                "web cores",
                "PG cores",
                "wrk cores",
                "machine busy",
                "load avg",
            ],
        )
    )
    one, two = runs[0]["rps"], runs[-1]["rps"]
    print(
        f"# sign-ups/s, 2 web processes / 1: {two / one:.2f} (ideal <= 2.00; "
        f"{args.connections} connections and {args.wrk_threads} wrk threads in total, "
        f"each process `--workers {args.web_workers} --threads {args.web_threads}`)"
    )
    print(f"# wrk command (one port, 2 web processes): {' '.join(runs[-1]['argv'])}")
    cpu_report(runs)
    lock_report(runs)


def cpu_report(runs: list[dict]) -> None:
    """CPU per sign-up, by part, and the sign-up rate the machine's cores would allow at that
    cost: when that ceiling is near the rate measured, the cores are the limit."""
    cores = os.cpu_count() or 1
    rows = []
    for r in runs:
        made = r["subjects"] or 1
        parts = [r["web_cpu"], r["pg_cpu"], r["wrk_cpu"]]
        ours = sum(parts)
        rows.append(
            [
                f"{r['n']} web",
                str(r["subjects"]),
                *(f"{1000 * v / made:.2f}" for v in parts),
                f"{1000 * ours / made:.2f}",
                f"{1000 * r['machine_cpu'] / made:.2f}",
                f"{(r['machine_cpu'] - ours) / r['seconds']:.2f}",
                f"{r['machine_cpu'] / r['seconds']:.2f}",
                f"{cores * made / ours:.0f}",
                f"{r['subjects'] / r['seconds']:.0f}",
            ]
        )
    print()
    print(
        c.table(
            rows,
            [
                "CPU ms per sign-up",
                "sign-ups",
                "web",
                "PostgreSQL",
                "wrk",
                "sum",
                "machine",
                "other cores",
                "machine cores busy",
                f"ceiling/s ({cores} cores / sum)",
                "measured/s",
            ],
        )
    )
    print(
        "# 'machine' = all CPU time not idle during the run, whoever used it (other users, the "
        "kernel, the lock sampler and its backend included) / sign-ups made; 'other cores' = "
        "that time less web, PostgreSQL and wrk, per second"
    )
    for r in runs:
        if r["others"]:
            print(
                f"# {r['n']} web, other processes' CPU during the run (those alive at its start "
                "and end; the top 5): "
                + "; ".join(f"{cpu:.1f} s {name}" for cpu, name in r["others"])
            )


# --- what PostgreSQL's backends wait on, during the sign-up runs -------------------------------

ACTIVITY_SQL = """
select state, coalesce(wait_event_type, ''), coalesce(wait_event, '')
from pg_stat_activity
where datname = current_database() and backend_type = 'client backend'
  and pid <> pg_backend_pid()
"""
# Locks asked for and not (yet) granted, with the relation's name (pg_class is per database:
# the sampler is connected to the bench database) and what the first blocker is running.
LOCKS_SQL = """
select l.locktype, l.mode, coalesce(c.relname, ''),
       coalesce((select left(b.query, 60) from pg_stat_activity b
                 where b.pid = (pg_blocking_pids(l.pid))[1]), '')
from pg_locks l
join pg_stat_activity a on a.pid = l.pid
left join pg_class c on c.oid = l.relation
where not l.granted and a.datname = current_database()
"""


class LockSampler(threading.Thread):
    """Every `interval` s, the state and wait event of each client backend of the bench
    database (pg_stat_activity) and every lock not granted (pg_locks), counted. A writer that
    waited for a row or table other writers hold would show as wait_event_type 'Lock' and a
    row in pg_locks. One connection of its own, to the bench database, left out of the counts;
    its backend's CPU is measured so it can be left out of the PostgreSQL figure."""

    def __init__(self, db_url: str, interval: float) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.conn = psycopg.connect(
            db_url.replace("postgres://", "postgresql://", 1),
            autocommit=True,
            application_name="bench-lock-sampler",
        )
        self.pid = self.conn.info.backend_pid
        self.halt = threading.Event()
        self.samples = 0
        self.states: Counter[tuple[str, str, str]] = Counter()
        self.locks: Counter[tuple[str, str, str, str]] = Counter()
        self.samples_with_lock_wait = 0
        self.most_active = 0
        self.cpu0 = c.pids_cpu_seconds([self.pid]).get(self.pid, 0.0)
        self.cpu = 0.0

    def run(self) -> None:
        due = time.monotonic()
        while not self.halt.is_set():
            rows = self.conn.execute(ACTIVITY_SQL).fetchall()
            locks = self.conn.execute(LOCKS_SQL).fetchall()
            self.samples += 1
            self.states.update((state or "?", kind, event) for state, kind, event in rows)
            self.most_active = max(self.most_active, sum(r[0] == "active" for r in rows))
            self.locks.update(tuple(r) for r in locks)
            if locks or any(kind == "Lock" for _, kind, _ in rows):
                self.samples_with_lock_wait += 1
            due += self.interval
            self.halt.wait(max(0.0, due - time.monotonic()))

    def finish(self) -> None:
        self.halt.set()
        self.join(timeout=10)
        self.cpu = c.pids_cpu_seconds([self.pid]).get(self.pid, self.cpu0) - self.cpu0
        self.conn.close()


def _label(r: dict) -> str:
    return f"{r['n']} web" if "n" in r else f"{r['k']} worker{'s' if r['k'] > 1 else ''}"


def lock_report(runs: list[dict], waiting_for: str = "the web process") -> None:
    sampled = [r for r in runs if r.get("sampler")]
    if not sampled:
        return
    keys: Counter[tuple[str, str, str]] = Counter()
    for r in sampled:
        keys.update(r["sampler"].states)
    rows = []
    for key, _ in keys.most_common():
        state, kind, event = key
        row = [state, kind or "-", event or ("(on CPU)" if state == "active" else "-")]
        for r in sampled:
            smp: LockSampler = r["sampler"]
            active = sum(v for k, v in smp.states.items() if k[0] == "active") or 1
            n = smp.states.get(key, 0)
            share = f" ({n / active:.0%} of active)" if state == "active" else ""
            row.append(f"{n}{share}")
        rows.append(row)
    print()
    print(
        "# backends of the bench database by state and wait event, summed over samples taken "
        f"every {sampled[0]['sampler'].interval * 1000:.0f} ms during the measured run "
        f"(pg_stat_activity; 'idle' + ClientRead = waiting for {waiting_for})"
    )
    head = ["state", "wait_event_type", "wait_event"]
    head += [f"{_label(r)}: {r['sampler'].samples} samples" for r in sampled]
    print(c.table(rows, head))
    for r in sampled:
        smp = r["sampler"]
        print(
            f"# {_label(r)}: most backends active at once {smp.most_active}; samples with a "
            f"backend waiting on a lock (wait_event_type Lock, or a pg_locks row not granted): "
            f"{smp.samples_with_lock_wait} of {smp.samples}"
        )
        if smp.locks:
            lock_rows = [[*k, str(v)] for k, v in smp.locks.most_common(10)]
            head = ["locktype", "mode", "relation", "blocked by (query)", "samples"]
            print(c.table(lock_rows, head))


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
    db_name, db_url = c.copy_pg_database(s["template"])
    env = {**s["env"], "DATABASE_URL": db_url}
    partner_dir = s["data_dir"] / f"partner-{k}"
    partner_dir.mkdir(mode=0o700)
    penv = {**env, "PARTNER_DATA_DIR": str(partner_dir), "PARTNER_SECRET": s["secret"]}
    port = s["partner_port"]
    argv = [*c.TILLIT, "reference-partner", "--port", str(port)]
    argv += ["--workers", str(args.partner_workers)]
    partner = c.PROCS.start(f"partner-{k}", argv, penv, s["logdir"])
    delivered_sql = "select count(*) from partners_delivery where state='delivered'"
    try:
        c.wait_http(f"http://127.0.0.1:{port}/healthz", partner)
        partner_cpu0 = c.tree_cpu_seconds(partner.popen.pid)
        load = os.getloadavg()[0]
        pg = c.PgCpu(db_name)
        pg.mark()
        sampler = LockSampler(db_url, args.lock_sample / 1000) if args.lock_sample else None
        if sampler:
            sampler.start()
        machine0 = c.machine_cpu()
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
                done = count_rows(db_url, Path(), delivered_sql)
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
        machine1 = c.machine_cpu()
        if sampler:
            sampler.finish()
        total, idle = machine1[0] - machine0[0], machine1[1] - machine0[1]
        out = {
            "k": k,
            "load": load,
            "done": done,
            "seconds": seconds,
            "rate": done / seconds,
            "steady": steady,
            "startup": first[0] - t0 if first else float("nan"),
            "worker_cores": [v / seconds for v in cpu.values()],
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
    finally:
        c.PROCS.stop(partner)


def workers_report(args: argparse.Namespace, runs: list[dict]) -> None:
    rows = []
    for r in runs:
        ok = r["partner_count"] == args.leads == r["done"] == r["claims"] and not r["twice"]
        rows.append(
            [
                f"{r['k']} worker{'s' if r['k'] > 1 else ''}",
                f"{r['steady']:.1f}",
                f"{r['rate']:.1f}",
                f"{r['seconds']:.1f}",
                f"{r['startup']:.1f}",
                f"{r['done']}",
                f"{r['partner_count']}",
                f"{r['claims']} / {r['twice']}",
                "PASS" if ok else "FAIL",
                " + ".join(f"{v:.2f}" for v in r["worker_cores"]),
                f"{r['partner_cores']:.2f}",
                f"{r['pg_cores']:.2f}",
                f"{r['pg_sessions']} / {r['pg_peak']}",
                f"{r['machine']:.0%}",
                f"{r['load']:.1f}",
            ]
        )
    print()
    print(
        c.table(
            rows,
            [
                "deliveries",
                "leads/s",
                "incl. start",
                "seconds",
                "1st after",
                "delivered",
                "at partner",
                "claims / twice",
                "once each",
                "worker cores",
                "partner cores",
                "PG cores",
                "PG sessions / peak",
                "machine busy",
                "load avg",
            ],
        )
    )
    print(
        "# 'PG sessions / peak': backends seen on the bench database during the drain (read "
        "every 0.25 s, so short-lived ones can be missed) / the most at one reading; "
        "'claims / twice': attempts over all leads / leads claimed more than once"
    )
    for r in runs:
        if r.get("detail"):
            print(
                f"# {r['k']} workers, leads by attempts (attempts: leads, released -> delivered "
                "min..max): " + "; ".join(f"{a}: {n}, {lo}..{hi}" for a, n, lo, hi in r["detail"])
            )
    per_lead = []
    for r in runs:
        worker = sum(r["worker_cores"]) * r["seconds"]
        parts = [worker, r["partner_cores"] * r["seconds"], r["pg_cores"] * r["seconds"]]
        machine = r["machine"] * (os.cpu_count() or 1) * r["seconds"]
        per_lead.append(
            [_label(r), *(f"{1000 * x / max(r['done'], 1):.2f}" for x in [*parts, machine])]
        )
    print()
    print("# CPU per lead delivered, ms (CPU seconds over the whole drain / leads delivered)")
    print(c.table(per_lead, ["deliveries", "workers", "partner", "PostgreSQL", "machine (all)"]))
    lock_report(runs, waiting_for="a worker")
    one, two = runs[0]["steady"], runs[-1]["steady"]
    print(
        f"# deliveries/s, 2 workers / 1: {two / one:.2f} (ideal <= 2.00; the same {args.leads} "
        f"leads each time, reference partner --workers {args.partner_workers}); 'leads/s' from "
        "the first delivery seen to the last, 'incl. start' from starting the workers (their "
        "start-up, '1st after' seconds, included)"
    )


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
