"""The bench database as PostgreSQL sees it, beyond making and dropping it (in `_common`).

This module holds copies of a seeded database, so that each run starts from the same rows,
and a sampler of what the database's client backends are doing and waiting on (their states
and wait events, and the locks not granted), with the tables that report its counts.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter

import psycopg

import _common as c
from _cpu import pids_cpu_seconds


def copy_pg_database(template: str) -> tuple[str, str]:
    """A throwaway copy of the database `template` (nobody may be connected to it), dropped at
    exit: the same seeded rows for each of several runs. Returns (name, url)."""
    name = f"tillit_bench_{secrets.token_hex(4)}"
    return c.throwaway_database(name, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


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
        self.cpu0 = pids_cpu_seconds([self.pid]).get(self.pid, 0.0)
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
        self.cpu = pids_cpu_seconds([self.pid]).get(self.pid, self.cpu0) - self.cpu0
        self.conn.close()


def lock_report(sampled: list[tuple[str, LockSampler]], waiting_for: str) -> None:
    """The samplers' counts, one column per run (`label`): backends by state and wait event,
    then for each run the most active at once and the locks waited on."""
    if not sampled:
        return
    print()
    print(
        "# backends of the bench database by state and wait event, summed over samples taken "
        f"every {sampled[0][1].interval * 1000:.0f} ms during the measured run "
        f"(pg_stat_activity; 'idle' + ClientRead = waiting for {waiting_for})"
    )
    head = ["state", "wait_event_type", "wait_event"]
    head += [f"{label}: {smp.samples} samples" for label, smp in sampled]
    print(c.table(_state_rows([smp for _, smp in sampled]), head))
    for label, smp in sampled:
        print(
            f"# {label}: most backends active at once {smp.most_active}; samples with a "
            f"backend waiting on a lock (wait_event_type Lock, or a pg_locks row not granted): "
            f"{smp.samples_with_lock_wait} of {smp.samples}"
        )
        if smp.locks:
            lock_rows = [[*k, str(v)] for k, v in smp.locks.most_common(10)]
            head = ["locktype", "mode", "relation", "blocked by (query)", "samples"]
            print(c.table(lock_rows, head))


def _state_rows(samplers: list[LockSampler]) -> list[list[str]]:
    """One row per (state, wait event type, wait event), most common first: its count in each
    sampler (and, for active backends, its share of the active ones)."""
    keys: Counter[tuple[str, str, str]] = Counter()
    for smp in samplers:
        keys.update(smp.states)
    rows = []
    for key, _ in keys.most_common():
        state, kind, event = key
        row = [state, kind or "-", event or ("(on CPU)" if state == "active" else "-")]
        for smp in samplers:
            active = sum(v for k, v in smp.states.items() if k[0] == "active") or 1
            n = smp.states.get(key, 0)
            share = f" ({n / active:.0%} of active)" if state == "active" else ""
            row.append(f"{n}{share}")
        rows.append(row)
    return rows
