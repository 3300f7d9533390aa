"""CPU time of what a bench does not start as a process tree of its own.

The CPU of a started process tree and of the whole machine is read in `_common`, beside the
trees' memory. This module holds the rest: single processes by pid, every process on the
machine (and the busiest of them, to see who else shared the cores), this script itself and
the wrk runs it waited for, and the PostgreSQL backends serving one database.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

import _common as c


def pids_cpu_seconds(pids: list[int]) -> dict[int, float]:
    """utime + stime of each pid (its threads included); pids that are gone are left out."""
    out = {}
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            out[p] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
    return out


def children_cpu_seconds() -> float:
    """CPU seconds of this process's children that have been waited for (wrk runs)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def self_cpu_seconds() -> float:
    """CPU seconds of this process (every thread): the load generator's own cost."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def every_cpu() -> dict[int, float]:
    """CPU seconds so far of every process on the machine (this user can read /proc of all)."""
    return pids_cpu_seconds([int(p) for p in os.listdir("/proc") if p.isdigit()])


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


class PgCpu:
    """CPU seconds used by the PostgreSQL backends serving one database (read from /proc, as
    the server runs on this machine). A backend that ends between two readings loses its
    share, so this is a lower bound; tillit keeps its connections open (CONN_MAX_AGE)."""

    def __init__(self, db_name: str) -> None:
        self.db_name = db_name
        self.seen: dict[int, float] = {}
        self.start: dict[int, float] = {}
        self.peak = 0  # the most backends seen on the database at one reading

    def _pids(self) -> list[int]:
        import psycopg

        with psycopg.connect(c.PG_ADMIN_URL, autocommit=True) as conn:
            rows = conn.execute(
                "select pid from pg_stat_activity where datname = %s and pid <> pg_backend_pid()",
                (self.db_name,),
            ).fetchall()
        self.peak = max(self.peak, len(rows))
        return [int(r[0]) for r in rows]

    def mark(self) -> None:
        self.start = pids_cpu_seconds(self._pids())
        self.seen = dict(self.start)

    def sample(self) -> None:
        import psycopg

        try:
            self.seen.update(pids_cpu_seconds(self._pids()))
        except psycopg.OperationalError:
            pass  # a shared server at max_connections: skip this reading

    def used(self) -> float:
        self.sample()
        return sum(v - self.start.get(p, 0.0) for p, v in self.seen.items())
