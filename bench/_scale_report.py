"""The tables and notes bench/scale.py prints for its two parts.

For the sign-ups: the wrk figures of 1 and 2 web processes, their ratio, and the CPU each
sign-up cost by part. For the deliveries: the drain of 1 and 2 workers, the checks that each
lead arrived once, the CPU per lead by part and the ratio. Both end with what the bench
database's backends waited on (`_pg.lock_report`).
"""

from __future__ import annotations

import argparse
import os

import _common as c
from _pg import LockSampler, lock_report
from _wrk import Result


def _label(r: dict) -> str:
    return f"{r['n']} web" if "n" in r else f"{r['k']} worker{'s' if r['k'] > 1 else ''}"


def labelled(runs: list[dict]) -> list[tuple[str, LockSampler]]:
    """(label, lock sampler) of each run that sampled."""
    return [(_label(r), r["sampler"]) for r in runs if r.get("sampler")]


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
    lock_report(labelled(runs), waiting_for="the web process")


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


def workers_report(args: argparse.Namespace, runs: list[dict]) -> None:
    rows = [_workers_row(args, r) for r in runs]
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
    per_lead_report(runs)
    lock_report(labelled(runs), waiting_for="a worker")
    one, two = runs[0]["steady"], runs[-1]["steady"]
    print(
        f"# deliveries/s, 2 workers / 1: {two / one:.2f} (ideal <= 2.00; the same {args.leads} "
        f"leads each time, reference partner --workers {args.partner_workers}); 'leads/s' from "
        "the first delivery seen to the last, 'incl. start' from starting the workers (their "
        "start-up, '1st after' seconds, included)"
    )


def _workers_row(args: argparse.Namespace, r: dict) -> list[str]:
    """One run's row of the deliveries table."""
    ok = r["partner_count"] == args.leads == r["done"] == r["claims"] and not r["twice"]
    return [
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


def per_lead_report(runs: list[dict]) -> None:
    """The CPU each part used per lead delivered, over the whole drain."""
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
