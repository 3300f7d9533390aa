"""The consent log: integration speed and memory, and proofs served, with 1,000,000 entries.

On a fresh data directory (`tillit init --demo`; SQLite by default, --postgres for a throwaway
PostgreSQL database):

1. seed N audit events as `record()` writes them (one row each, nonce and leaf hash included,
   every column converted by its model field as the ORM would; many rows per statement, so
   seeding is fast) in a child process, so that the sequencer's process starts small;
2. baseline: the tree's own work for N leaves in memory (tillit_partner.tree, no database);
3. integrate the whole backlog with the sequencer's own `_integrate_batch`, one batch per
   transaction as the worker does, sampling this process's resident memory (VmRSS) after each
   batch: entries/s (target >= 20,000 on SQLite), the ratio to the baseline, the rate of the
   first and the last tenth of the batches, and the memory after the first batch, after half
   and at the end (target: no growth with the backlog);
4. sign a checkpoint, then serve --proofs inclusion proofs of random leaves (and as many
   consistency proofs) in-process through the real URL, view and middleware with Django's test
   client, alternating with GET /healthz the same way: p50 and p99 (target: inclusion p99
   < 5 ms at 1,000,000 entries), and the hashes one proof reads;
5. start `tillit web` on the same data directory (as bench/signup.py starts it) and serve the
   same over HTTP: --http-requests sequential keep-alive requests with httpx, proof and
   /healthz alternating; then wrk with a Lua script of random leaf indexes, and on /healthz,
   with -c1 (one request at a time) and with --wrk-connections;
6. with --verify, `tillit audit verify` over the whole log: entries/s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import multiprocessing
import os
import random
import time
import uuid

import _common as c
from _logproofs import percentiles, serve_http, serve_in_process

TARGET_RATE = 20_000  # entries/s per sequencer, on SQLite
TARGET_P99_MS = 5.0  # inclusion proof at 1,000,000 entries
# "Flat": what is resident at the end may exceed the sample after the first batch by this much
# at most. Holding the backlog would cost far more: 1,000,000 hex leaf hashes alone are >100 MB.
FLAT_MB = 16.0


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("-n", "--entries", type=int, default=1_000_000)
    p.add_argument("--batch", type=int, default=10_000, help="entries per integration")
    p.add_argument("--seed-batch", type=int, default=20_000, help="rows per seeding statement")
    p.add_argument("--proofs", type=int, default=2000, help="in-process proofs of each kind")
    p.add_argument("--http-requests", type=int, default=2000, help="sequential HTTP proofs")
    p.add_argument("--wrk-seconds", type=int, default=10, help="per wrk run; 0: no wrk")
    p.add_argument("--wrk-connections", type=int, default=8, help="wrk -c of the loaded runs")
    p.add_argument("--server", choices=["granian", "gunicorn"], default="granian")
    p.add_argument("--postgres", action="store_true")
    p.add_argument("--verify", action="store_true", help="also time a full audit verify")
    p.add_argument("--keep", action="store_true", help="keep the data directory and logs")
    return p.parse_args()


def rss_mb() -> float:
    return c.vm_kb(os.getpid(), "VmRSS") / 1024


def django_setup(env: dict[str, str]) -> None:
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "tillit.settings"
    import django

    django.setup()


# --- 1. seeding, in a child process -------------------------------------------------------


def seed_child(env: dict[str, str], n: int, step: int) -> float:
    """N events as record() makes them: each column through its model field's conversion, so
    the rows are byte for byte what the ORM writes; many rows per executemany, one transaction
    per `step` rows. Returns events/s."""
    django_setup(env)
    from django.db import connection, transaction
    from django.utils import timezone

    from tillit.audit import entries
    from tillit.audit.models import AuditEvent

    # Every column record() writes: all but the arrival number (the database's) and the place
    # in the tree (empty: the event waits).
    fields = [
        f for f in AuditEvent._meta.concrete_fields if not f.primary_key and f.name != "leaf_index"
    ]
    sql = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608 (names from the model)
        connection.ops.quote_name(AuditEvent._meta.db_table),
        ", ".join(connection.ops.quote_name(f.column) for f in fields),
        ", ".join(["%s"] * len(fields)),
    )
    rng = random.Random(1)
    started = time.perf_counter()
    at = timezone.now()
    for first in range(0, n, step):
        rows = []
        for i in range(first, min(n, first + step)):
            # What a sign-up records (subjects/signup.py), with made-up ids.
            event = AuditEvent(
                at=at + dt.timedelta(microseconds=i),
                action="subject.registered",
                actor="visitor",
                target=f"subject:{uuid.UUID(int=rng.getrandbits(128), version=4)}",
                data={
                    "partner": "demo-partner",
                    "receipt_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "policy_version": "1",
                    "consents": {"referral": "given", "offers": "refused"},
                },
                nonce=entries.new_nonce(),
            )
            event.leaf_hash = event.compute_leaf_hash()
            rows.append([f.get_db_prep_save(getattr(event, f.attname), connection) for f in fields])
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(sql, rows)
    rate = n / (time.perf_counter() - started)
    connection.close()
    return rate


def seed(env: dict[str, str], n: int, step: int) -> float:
    # spawn, not fork: the child must not inherit (or leave behind) this process's memory.
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(seed_child, (env, n, step))


# --- 2. and 3. integration -----------------------------------------------------------------


def baseline(n: int) -> float:
    """The tree's own work, in memory: N leaf hashes (at most 500,000; from hex, as stored)
    through a frontier. Returns leaves/s."""
    from tillit_partner import tree

    count = min(n, 500_000)
    leaves = [tree.leaf_hash(i.to_bytes(8, "big")).hex() for i in range(count)]
    started = time.perf_counter()
    edge = tree.Frontier()
    for leaf in leaves:
        edge.push(bytes.fromhex(leaf))
    return count / (time.perf_counter() - started)


def integrate(batch: int) -> dict:
    from tillit.audit import sequencer

    gc.collect()
    before = rss_mb()
    memory, seconds = [], []
    done = 0
    started = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        added, size = sequencer._integrate_batch(batch)
        if not added:
            break
        seconds.append(time.perf_counter() - t0)
        done += added
        memory.append(rss_mb())
    took = time.perf_counter() - started
    tenth = max(1, len(seconds) // 10)
    return {
        "done": done,
        "size": size,
        "rate": done / took,
        "seconds": took,
        "first_tenth": tenth * batch / sum(seconds[:tenth]),
        # The last batch may be short: leave it out of the last tenth.
        "last_tenth": tenth * batch / sum(seconds[-tenth - 1 : -1] or seconds[-1:]),
        "before": before,
        "memory": memory,
    }


# --- the report ----------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def target_row(p99: float) -> list[str]:
    return ["target: inclusion p99", "", f"< {TARGET_P99_MS:.0f}", "", verdict(p99 < TARGET_P99_MS)]


def main() -> None:
    args = parse_args()
    c.install_cleanup()
    c.header("bench/log.py: the consent log's integration and proofs")
    c.warn_if_busy()
    data, logdir, url, env = c.fresh_site("tillit-bench-log-", args.postgres, args.keep)
    print(
        f"# database: {'postgresql' if url else 'sqlite'}; entries: {args.entries:,}; "
        f"integration batch: {args.batch:,}; data: {data}",
        flush=True,
    )
    started = time.perf_counter()
    seed_rate = seed(env, args.entries, args.seed_batch)
    print(
        f"seeded {args.entries:,} events in {time.perf_counter() - started:.0f} s "
        f"({seed_rate:,.0f}/s, in a child process)",
        flush=True,
    )

    django_setup(env)
    from django.db import connection

    from tillit.audit import sequencer

    if connection.vendor == "postgresql":
        print_postgres_settings()
    size = integration_report(args)
    sequencer.sign_checkpoint(force=True)
    rows, worst = serve_in_process(size, args.proofs)
    rows.append(target_row(worst))
    print()
    head = [f"in-process (test client), {args.proofs} each", "p50 ms", "p99 ms", "p50/healthz"]
    print(c.table(rows, [*head, ""]))
    connection.close()

    http_report(args, serve_http(args, env, data, size))
    if args.verify:
        verify_report()
    print()
    print(
        f"# targets: integration >= {TARGET_RATE:,} entries/s per sequencer on SQLite, memory "
        f"flat over the backlog; inclusion proof p99 < {TARGET_P99_MS:.0f} ms at 1,000,000 "
        "entries (wrk -c1 is what one client sees, without httpx's own cost in it)"
    )


def print_postgres_settings() -> None:
    """What the integration rate depends on: whether the seeded table has been analyzed,
    and how much of it fits in PostgreSQL's buffers."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "select current_setting('server_version'), current_setting('autovacuum'), "
            "current_setting('shared_buffers'), current_setting('max_wal_size')"
        )
        version, autovacuum, buffers, wal = cursor.fetchone()
    print(
        f"# PostgreSQL {version}: autovacuum {autovacuum}, shared_buffers {buffers}, "
        f"max_wal_size {wal}"
    )


def integration_report(args: argparse.Namespace) -> int:
    """Integrate the whole backlog, next to the baseline, and print its rate and memory.
    Returns the tree's size."""
    from django.db import connection

    from tillit.audit.models import AuditEvent

    waiting = AuditEvent.objects.filter(leaf_index__isnull=True).count()
    base = baseline(args.entries)
    run = integrate(args.batch)
    assert run["done"] == waiting, f"integrated {run['done']} of {waiting} waiting"
    mem = run["memory"]
    growth = mem[-1] - mem[0]
    rate = run["rate"]
    print()
    print(
        c.table(
            [
                ["tree work in memory (baseline)", f"{base:,.0f}", "1.00", ""],
                ["sequencer, whole backlog", f"{rate:,.0f}", f"{rate / base:.3f}", ""],
                ["  first tenth of the batches", f"{run['first_tenth']:,.0f}", "", ""],
                ["  last tenth of the batches", f"{run['last_tenth']:,.0f}", "", ""],
                # The target is set for SQLite; on PostgreSQL the same line is for comparison.
                [
                    "target (set for SQLite)",
                    f">= {TARGET_RATE:,}",
                    "",
                    verdict(rate >= TARGET_RATE) + ("" if connection.vendor == "sqlite" else "*"),
                ],
            ],
            ["integration", "entries/s", "of baseline", ""],
        )
    )
    if connection.vendor != "sqlite":
        print("* on PostgreSQL, for comparison only: the target is set for SQLite")
    half = mem[len(mem) // 2]
    print(
        f"{waiting:,} waiting entries ({waiting - args.entries} of them from init) integrated "
        f"in {run['seconds']:.1f} s, {len(mem)} batches; tree size {run['size']:,}"
    )
    print(
        f"memory (VmRSS of this process): {run['before']:.0f} MB before, {mem[0]:.0f} MB after "
        f"the first batch, {half:.0f} MB after half, {mem[-1]:.0f} MB at the end (max "
        f"{max(mem):.0f}): {growth:+.1f} MB over {waiting - args.batch:,} entries; target "
        f"< {FLAT_MB:.0f} MB: {verdict(growth < FLAT_MB)}"
    )
    return run["size"]


def http_report(args: argparse.Namespace, http: dict) -> None:
    """The proofs over HTTP: httpx one at a time, then wrk, and the server's peak memory."""
    print()
    print(f"# server: {' '.join(http['argv'])} (product defaults for workers and threads)")
    base_ms, proof_ms = http["sequential"]
    (b50, b99), (p50, p99) = percentiles(base_ms), percentiles(proof_ms)
    rows = [
        ["GET /healthz (baseline)", f"{b50:.2f}", f"{b99:.2f}", "", ""],
        ["inclusion proof, random leaf", f"{p50:.2f}", f"{p99:.2f}", f"{p50 / b50:.1f}x", ""],
        target_row(p99),
    ]
    head = [f"HTTP, httpx, sequential, {args.http_requests} each", "p50 ms", "p99 ms"]
    print(c.table(rows, [*head, "p50/healthz", ""]))
    if http.get("wrk"):
        wrk_report(args, http["wrk"])
    print(f"# server peak memory (VmHWM): {http['mem']}")


def wrk_report(args: argparse.Namespace, runs: list) -> None:
    """The wrk runs' table and the commands of the proof runs."""
    rows = []
    for conns, path, res, _ in runs:
        name = "GET /healthz" if path == "healthz" else "inclusion proof"
        rows.append(
            [
                f"-c{conns} {name}",
                f"{res.rps:,.0f}",
                f"{res.p50:.2f}",
                f"{res.p99:.2f}",
                f"{res.max:.1f}",
                str(res.bad + res.socket_errors),
                f"{res.server_cores:.2f}",
                f"{res.cpu:.0%}",
                verdict(res.p99 < TARGET_P99_MS) if (conns, path) == (1, "proof") else "",
            ]
        )
    print()
    head = [f"HTTP, wrk {args.wrk_seconds}s", "req/s", "p50 ms", "p99 ms", "max ms"]
    print(c.table(rows, [*head, "errors", "server cores", "machine busy", "p99 < 5"]))
    for conns, path, _, argv in runs:
        if path == "proof":
            print(f"# wrk command (-c{conns} proofs): {' '.join(argv)}")


def verify_report() -> None:
    """`tillit audit verify`'s verify() over the whole log, timed."""
    from tillit.audit.verify import verify

    started = time.perf_counter()
    result = verify()
    took = time.perf_counter() - started
    print(
        f"audit verify: ok={result.ok}, {result.events:,} entries in {took:.1f} s "
        f"({result.events / took:,.0f}/s) {result.problem}"
    )


if __name__ == "__main__":
    try:
        main()
    finally:
        c.cleanup_now()
