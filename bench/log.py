"""The consent log: integration speed and memory, and proofs served, with 1,000,000 entries.

In one process, on a fresh data directory (SQLite by default, --postgres for a throwaway
PostgreSQL database):

1. seed N audit events as `record()` writes them (one INSERT each, leaf hash included; here
   many per statement, to seed fast) and print the rate;
2. baseline: the tree's own work for the same leaves in memory (audit/tree.py, no database);
3. integrate the whole backlog with the sequencer, one batch per transaction as the worker
   does, sampling the process's resident memory after each batch: entries/s (target >= 20,000
   on SQLite), the ratio to the baseline, and the memory after the first batch, after half and
   at the end (flat means it does not grow with the backlog);
4. sign a checkpoint, then serve K inclusion proofs of random leaves (and K consistency
   proofs) through the real URL, view and middleware with Django's test client, against
   GET /healthz the same way: p50 and p99 (target p99 < 5 ms at 1,000,000 entries), and the
   hashes each proof read;
5. with --verify, `tillit audit verify` over the whole log: entries/s.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time

import _common as c


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("-n", "--entries", type=int, default=1_000_000)
    p.add_argument("--batch", type=int, default=10_000, help="entries per integration")
    p.add_argument("--proofs", type=int, default=2000, help="proofs served of each kind")
    p.add_argument("--postgres", action="store_true")
    p.add_argument("--verify", action="store_true", help="also time a full audit verify")
    return p.parse_args()


def rss_mb() -> float:
    return c.vm_kb(os.getpid(), "VmRSS") / 1024


def setup(args: argparse.Namespace) -> None:
    data = c.temp_dir("tillit-bench-log-")
    url = c.create_pg_database()[1] if args.postgres else ""
    os.environ.update(c.make_env(data, url))
    os.environ["TILLIT_SITE_URL"] = "http://127.0.0.1:8000"
    os.environ["DJANGO_SETTINGS_MODULE"] = "tillit.settings"
    sys.argv = [sys.argv[0]]
    import django

    django.setup()
    from django.core.management import call_command

    call_command("init", verbosity=0)


def seed(n: int) -> float:
    """N events as record() makes them, without the per-row round trip."""
    import datetime as dt

    from django.db import connection, transaction

    from tillit.audit import entries, tree

    started = time.perf_counter()
    at = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    step = 50_000
    sql = (
        "INSERT INTO audit_auditevent (at, action, actor, target, data, leaf_hash) "
        "VALUES (%s, %s, %s, %s, %s, %s)"
    )
    for first in range(0, n, step):
        rows = []
        for i in range(first, min(n, first + step)):
            when = at + dt.timedelta(microseconds=i)
            data = {"partner": "demo-partner", "n": i}
            entry = entries.encode(
                at=when, action="bench.event", actor="worker", target=f"subject:{i}", data=data
            )
            rows.append(
                (
                    when,
                    "bench.event",
                    "worker",
                    f"subject:{i}",
                    entries.canonical(data).decode(),
                    tree.leaf_hash(entry).hex(),
                )
            )
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(sql, rows)
    return n / (time.perf_counter() - started)


def baseline(n: int) -> float:
    """The tree's own work, in memory: leaf hashes pushed through a frontier."""
    from tillit.audit import tree

    leaves = [tree.leaf_hash(i.to_bytes(8, "big")) for i in range(min(n, 200_000))]
    started = time.perf_counter()
    edge = tree.Frontier()
    for leaf in leaves:
        edge.push(leaf)
    return len(leaves) / (time.perf_counter() - started)


def integrate(n: int, batch: int) -> tuple[float, list[float]]:
    from tillit.audit import sequencer

    memory = []
    started = time.perf_counter()
    done = 0
    while True:
        added, _ = sequencer._integrate_batch(batch)
        if not added:
            break
        done += added
        memory.append(rss_mb())
    rate = done / (time.perf_counter() - started)
    assert done == n, f"integrated {done} of {n}"
    return rate, memory


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]


def timed_gets(client, urls: list[str]) -> list[float]:  # noqa: ANN001
    times = []
    for url in urls:
        started = time.perf_counter()
        answer = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, (url, answer.status_code, answer.content[:200])
    return times


def serve_proofs(n: int, k: int) -> list[list[str]]:
    from django.test import Client

    from tillit.audit import proofs, sequencer, tree

    sequencer.sign_checkpoint(force=True)
    client = Client()
    rng = random.Random(7)
    inclusion = [f"/log/proof/inclusion?leaf_index={rng.randrange(n)}" for _ in range(k)]
    consistency = [f"/log/proof/consistency?first={rng.randrange(1, n)}" for _ in range(k)]
    timed_gets(client, ["/healthz"] * 50 + inclusion[:50])  # warm
    rows = []
    for name, urls in (
        ("GET /healthz (baseline)", ["/healthz"] * k),
        ("inclusion proof", inclusion),
        ("consistency proof", consistency),
    ):
        p50, p99 = percentiles(timed_gets(client, urls))
        rows.append([name, f"{p50:.2f}", f"{p99:.2f}"])
    reads: list[int] = []
    tree.inclusion_proof(n // 3, n, lambda ids: reads.append(len(ids)) or proofs.read_hashes(ids))
    rows.append(["hashes read per inclusion proof", str(reads[0]), ""])
    return rows


def main() -> None:
    args = parse_args()
    c.install_cleanup()
    c.header("bench/log.py: the consent log's integration and proofs")
    setup(args)
    from django.db import connection

    print(f"# database: {connection.vendor}; entries: {args.entries:,}; batch: {args.batch:,}")
    warm = rss_mb()
    print(f"seeded {args.entries:,} events at {seed(args.entries):,.0f}/s")
    base = baseline(args.entries)
    rate, memory = integrate(args.entries, args.batch)
    half = memory[len(memory) // 2]
    print(
        c.table(
            [
                ["tree work in memory (baseline)", f"{base:,.0f}", ""],
                ["sequencer, entries/s", f"{rate:,.0f}", f"{rate / base:.2f} of baseline"],
                ["target", ">= 20,000", "PASS" if rate >= 20_000 else "MISS"],
            ],
            ["integration", "entries/s", ""],
        )
    )
    print(
        f"memory (VmRSS): {warm:.0f} MB before seeding, {memory[0]:.0f} MB after the first "
        f"batch, {half:.0f} MB after half, {memory[-1]:.0f} MB at the end; peak (VmHWM) "
        f"{c.vm_kb(os.getpid(), 'VmHWM') / 1024:.0f} MB"
    )
    print(
        c.table(serve_proofs(args.entries, args.proofs), ["served in-process", "p50 ms", "p99 ms"])
    )
    if args.verify:
        from tillit.audit.verify import verify

        started = time.perf_counter()
        verdict = verify()
        took = time.perf_counter() - started
        print(
            f"audit verify: {verdict.ok}, {verdict.events:,} entries in {took:.1f} s "
            f"({verdict.events / took:,.0f}/s)"
        )


if __name__ == "__main__":
    main()
