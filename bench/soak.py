"""Soak: a fixed sign-up rate for --duration seconds through two `tillit web` processes and two
`tillit worker` processes on PostgreSQL, each sign-up confirmed from its e-mail and delivered.

Everything runs as an operator would run it on two machines sharing one database and one
Redis: `tillit web --port P1` and `tillit web --port P2` (small, so that both fit 2 cores), two
`tillit worker`, `tillit reference-partner`, all with the same DATABASE_URL (a throwaway
PostgreSQL database) and TILLIT_REDIS_URL (the per-IP limits are shared through it).

The load is open-loop: request i is due at start + i/rate, whether or not the earlier ones
have been answered (a pool of client threads, one keep-alive connection per thread and port,
standard library only). Sign-ups alternate between the two ports, each a new person
(soak-<run>-<i>@example.com). The site runs in demo mode, so each confirmation e-mail is a
file; a confirmer thread reads each new one as it appears, takes the link and POSTs it to one
of the two ports, as the person's click on "confirm" would. The workers then deliver the lead.

Printed: requests sent, errors (not 2xx/3xx, and socket errors), p50/p99/max latency (from the
moment a request was sent, and from the moment it was due: the second includes any wait in
the client, so a load generator that falls behind shows), the sign-up rate held, and at the end
(after every accepted sign-up is confirmed and the queue has drained) the leads at the partner
against the sign-ups accepted; the resident memory (VmRSS) of each web process tree, worker and
the partner after warm-up, every --sample seconds and at the end.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx

import _common as c
from _cpu import PgCpu, self_cpu_seconds
from _openloop import Confirmer, Load
from _soak_report import Point, Run, final_counts, report, report_memory, twice_detail
from _wrk import count_rows, csrf_pair


@dataclass
class Procs:
    webs: list[c.Proc]
    workers: list[c.Proc]
    partner: c.Proc

    def named(self) -> list[tuple[str, c.Proc]]:
        return [
            *((f"web{n + 1}", p) for n, p in enumerate(self.webs)),
            *((f"worker{n + 1}", p) for n, p in enumerate(self.workers)),
            ("partner", self.partner),
        ]


DELIVERED = "select count(*) from partners_delivery where state='delivered'"


def point(label: str, procs: Procs, db_url: str) -> Point:
    mem = {name: c.tree_rss(p.popen.pid) for name, p in procs.named()}
    return Point(label, time.monotonic(), mem, count_rows(db_url, Path(), DELIVERED))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="A fixed sign-up rate through 2 web + 2 worker processes on PostgreSQL, "
        "each sign-up confirmed and delivered; errors, latency, leads delivered, memory.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--rate", type=float, default=10.0, help="sign-ups per second (both ports)")
    p.add_argument("--duration", type=float, default=600, help="seconds measured")
    p.add_argument(
        "--warmup", type=float, default=30, help="seconds at the same rate before measuring"
    )
    p.add_argument("--webs", type=int, default=2, help="`tillit web` processes, one port each")
    p.add_argument("--workers", type=int, default=2, help="`tillit worker` processes")
    p.add_argument(
        "--worker-batch", type=int, default=0, help="tillit worker --batch (0: the product's 64)"
    )
    p.add_argument("--web-workers", type=int, default=1, help="tillit web --workers")
    p.add_argument("--web-threads", type=int, default=2, help="tillit web --threads")
    p.add_argument("--server", choices=["granian", "gunicorn"], default="granian")
    p.add_argument("--clients", type=int, default=64, help="client threads (open loop)")
    p.add_argument("--redis-db", type=int, default=11, help="TILLIT_REDIS_URL database number")
    p.add_argument("--sample", type=float, default=60, help="seconds between memory samples")
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=300,
        help="seconds allowed after the load stops for confirmations and deliveries to finish",
    )
    p.add_argument("--keep", action="store_true", help="keep the data directory and logs")
    return p.parse_args()


def redis_check(db: int) -> str:
    import redis

    try:
        keys = redis.Redis(host="127.0.0.1", port=6379, db=db).dbsize()
    except redis.RedisError as error:
        raise SystemExit(f"Redis at 127.0.0.1:6379 is not usable: {error}") from None
    return (
        f"{keys} keys already in db {db} (rate-limit keys are HMACs under this run's fresh "
        "secret key, so they cannot collide)"
        if keys
        else f"db {db} empty at start"
    )


def start(args: argparse.Namespace, env: dict[str, str], logdir: Path, partner_port: int) -> Procs:
    partner = c.PROCS.start(
        "partner", [*c.TILLIT, "reference-partner", "--port", str(partner_port)], env, logdir
    )
    webs = []
    for n in range(args.webs):
        port = c.free_port()
        argv = [*c.TILLIT, "web", "--port", str(port), "--server", args.server]
        argv += ["--workers", str(args.web_workers), "--threads", str(args.web_threads)]
        proc = c.PROCS.start(f"web{n + 1}", argv, env, logdir)
        proc.port = port  # type: ignore[attr-defined]
        webs.append(proc)
        # One at a time: each runs `migrate` (nothing to do after init) before it serves.
        c.wait_http(f"http://127.0.0.1:{port}/healthz", proc)
    worker_argv = [*c.TILLIT, "worker"]
    if args.worker_batch:
        worker_argv += ["--batch", str(args.worker_batch)]
    workers = [
        c.PROCS.start(f"worker{n + 1}", worker_argv, env, logdir) for n in range(args.workers)
    ]
    c.wait_http(f"http://127.0.0.1:{partner_port}/healthz", partner)
    return Procs(webs, workers, partner)


def drive(
    args: argparse.Namespace, load: Load, procs: Procs, prefix: str, token: str, db: str
) -> Run:
    """Schedule sign-ups at args.rate for warm-up + duration; sample memory on the way."""
    db_url = f"postgres://postgres@127.0.0.1:5432/{db}"
    pg = PgCpu(db)
    run = Run()
    t0 = time.monotonic()
    end_warm = t0 + args.warmup
    end = end_warm + args.duration
    next_sample = end_warm
    i = 0
    warm_done = False
    cpu0: dict = {}
    while True:
        due = t0 + i / args.rate
        if due >= end:
            break
        now = time.monotonic()
        if not warm_done and now >= end_warm:
            warm_done = True
            run.measured_from = now
            cpu0 = {n: c.tree_cpu_seconds(p.popen.pid) for n, p in procs.named()}
            machine0, self0 = c.machine_cpu(), self_cpu_seconds()
            pg.mark()
        if warm_done and now >= next_sample:
            label = f"{now - end_warm:.0f} s" if next_sample > end_warm else "start"
            run.points.append(point(label, procs, db_url))
            next_sample += args.sample
            pg.sample()
        if due > now:
            time.sleep(min(due - now, 0.05))
            continue
        body = signup_body(token, prefix, i)
        load.jobs.put(("signup", due, load.ports[i % len(load.ports)], "/", body))
        i += 1
    run.signups_due = i
    run.measured_to = time.monotonic()
    seconds = run.measured_to - run.measured_from
    run.cpu = {n: (c.tree_cpu_seconds(p.popen.pid) - cpu0[n]) / seconds for n, p in procs.named()}
    run.cpu["PostgreSQL backends"] = pg.used() / seconds
    machine1 = c.machine_cpu()
    total, idle = machine1[0] - machine0[0], machine1[1] - machine0[1]
    run.machine_busy = (total - idle) / total if total else 0.0
    run.client_cores = (self_cpu_seconds() - self0) / seconds
    run.points.append(point("end", procs, db_url))
    return run


def signup_body(token: str, prefix: str, i: int) -> str:
    """The form of sign-up i: a new person each, soak-<run>-<i>@example.com."""
    return urlencode(
        {
            "csrfmiddlewaretoken": token,
            "name": "Soak Person",
            "email": f"soak-{prefix}-{i}@example.com",
            "phone": "",
            "country": "NO",
            "consent_partner": "on",
        }
    )


def wait_for(what: str, check, timeout: float) -> float:  # noqa: ANN001
    """Poll check() until it is true; return the seconds it took (or -1 on timeout)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if check():
            return time.monotonic() - t0
        time.sleep(0.5)
    print(f"# TIMEOUT: {what} not done within {timeout:.0f}s", flush=True)
    return -1.0


def main() -> None:
    args = parse_args()
    c.install_cleanup()
    c.header("bench/soak.py: a fixed sign-up rate through 2 web + 2 worker processes")
    c.warn_if_busy()
    started = time.monotonic()
    data_dir, logdir, db_name, db_url, partner_port, procs = set_up(args)
    ports = [p.port for p in procs.webs]  # type: ignore[attr-defined]
    cookie, token = csrf_pair(f"http://127.0.0.1:{ports[0]}")
    load = Load(ports, cookie, args.clients)
    load.start()
    confirmer = Confirmer(data_dir / "demo" / "mail", load, token)
    confirmer.start()
    prefix = secrets.token_hex(4)
    run = drive(args, load, procs, prefix, token, db_name)
    print(f"# load stopped after {run.signups_due} sign-ups; draining ...", flush=True)
    accepted, confirm_s, drain_s = settle(args, load, run, db_url)
    confirmer.running = False
    load.stop()
    after = point("drained", procs, db_url)
    partner_count = partner_leads(partner_port)
    counts = final_counts(db_url)
    alive = {name: p.popen.poll() for name, p in procs.named()}
    report(args, run, load, confirmer, accepted, confirm_s, drain_s, partner_count, counts)
    report_memory(run, load, after)
    dead = report_processes(procs, alive, counts, db_url, logdir)
    print(
        f"# total time {time.monotonic() - started:.0f}s; logs in {logdir}"
        + ("" if args.keep else " (deleted at exit; use --keep)")
    )
    ok = (
        partner_count == accepted == counts["delivered"]
        and not dead
        and all(s.status and 200 <= s.status < 400 for s in load.samples)
    )
    if not ok:
        sys.exit(1)


def set_up(args: argparse.Namespace) -> tuple[Path, Path, str, str, int, Procs]:
    """A fresh data directory and PostgreSQL database, `tillit init`, and every process
    started and answering: (data_dir, logdir, db_name, db_url, partner_port, procs)."""
    data_dir = c.temp_dir("tillit-bench-soak-", keep=args.keep)
    logdir = data_dir / "bench-logs"
    logdir.mkdir()
    db_name, db_url = c.create_pg_database()
    env = c.make_env(data_dir, db_url)
    env["TILLIT_REDIS_URL"] = f"redis://127.0.0.1:6379/{args.redis_db}"
    print(f"# Redis: {redis_check(args.redis_db)}")
    partner_port = c.free_port()
    c.run_init(env, partner_port, logdir)
    procs = start(args, env, logdir, partner_port)
    ports = [p.port for p in procs.webs]  # type: ignore[attr-defined]
    print(
        f"# database: PostgreSQL ({db_name}); {args.webs} x `tillit web --server {args.server} "
        f"--workers {args.web_workers} --threads {args.web_threads}` on ports {ports}; "
        f"{args.workers} x `tillit worker"
        + (f" --batch {args.worker_batch}" if args.worker_batch else "")
        + f"`; reference partner on {partner_port}; "
        f"TILLIT_REDIS_URL={env['TILLIT_REDIS_URL']}",
        flush=True,
    )
    print(
        f"# load: {args.rate:g} sign-ups/s (open loop, {args.clients} client threads, "
        f"alternating ports) for {args.warmup:g}s warm-up + {args.duration:g}s measured; "
        "each confirmed from its e-mail (POST /confirm/<token>/ to alternating ports)",
        flush=True,
    )
    return data_dir, logdir, db_name, db_url, partner_port, procs


def settle(args: argparse.Namespace, load: Load, run: Run, db_url: str) -> tuple[int, float, float]:
    """Wait for every sign-up to be answered, then every accepted one to be confirmed, then
    every lead to be delivered: (sign-ups accepted, seconds to confirm, seconds to deliver)."""
    wait_for(
        "answers to the sign-ups",
        lambda: sum(1 for s in load.samples if s.kind == "signup") >= run.signups_due,
        120,
    )
    accepted = sum(1 for s in load.samples if s.kind == "signup" and 300 <= s.status < 400)
    confirm_s = wait_for(
        "confirmations",
        lambda: sum(1 for s in load.samples if s.kind == "confirm") >= accepted,
        args.drain_timeout,
    )
    confirmed = sum(1 for s in load.samples if s.kind == "confirm" and s.status == 200)
    drain_s = wait_for(
        "deliveries",
        lambda: count_rows(db_url, Path(), DELIVERED) >= confirmed,
        args.drain_timeout,
    )
    return accepted, confirm_s, drain_s


def partner_leads(partner_port: int) -> int:
    """The partner's count of the leads it holds (GET /leads.json), or -1 if unreadable."""
    try:
        return int(
            httpx.get(f"http://127.0.0.1:{partner_port}/leads.json", timeout=60).json()["count"]
        )
    except (httpx.HTTPError, ValueError, KeyError) as error:
        print(f"# could not read the partner's /leads.json: {error}")
        return -1


def report_processes(
    procs: Procs, alive: dict[str, int | None], counts: dict[str, int], db_url: str, logdir: Path
) -> dict[str, int]:
    """Print the processes' log problems, the leads by attempts if any went twice, and the
    processes that exited during the run; return those (name: exit status)."""
    for name, proc in procs.named():
        n, samples = c.log_problems(proc.log)
        if n:
            print(f"# {name} log: {n} warnings/errors, e.g. " + " | ".join(samples))
    if counts["claimed_twice"]:
        print(f"# leads by attempts: {twice_detail(db_url)}")
    dead = {k: v for k, v in alive.items() if v is not None}
    if dead:
        print(f"# PROCESSES THAT EXITED DURING THE RUN: {dead} (logs in {logdir})")
    return dead


if __name__ == "__main__":
    try:
        main()
    finally:
        c.cleanup_now()
