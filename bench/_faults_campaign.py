"""The faults of the campaign (bench/faults.py) and the thread of time they land in.

KINDS names them; the Campaign injects one at a time, a random (seeded) gap apart, each kind
once per shuffled round, holds it a few seconds, undoes it, and keeps a Fault record of each:
when it landed, how long it lasted and what it did.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from _faults_report import say
from _faults_site import Site, sql

KINDS = [
    "kill_web",
    "kill_worker",
    "kill_partner",
    "pg_restart",
    "partner_slow",
    "partner_500",
    "partner_drop",
    "disk_readonly",
    "disk_full",
    "pg_disk_full",
]


@dataclass
class Fault:
    kind: str
    at: float
    seconds: float
    note: str = ""


class Campaign:
    def __init__(self, site: Site, kinds: list[str], rng: random.Random, t0: float) -> None:
        self.site, self.kinds, self.rng, self.t0 = site, kinds, rng, t0
        self.faults: list[Fault] = []

    def run(self, seconds: float, gap: tuple[float, float]) -> None:
        end = self.t0 + seconds
        round_: list[str] = []
        while True:
            time.sleep(max(0.0, min(self.rng.uniform(*gap), end - time.monotonic())))
            if time.monotonic() >= end - 2:
                return
            if not round_:
                round_ = list(self.kinds)
                self.rng.shuffle(round_)
            kind = round_.pop()
            hold = min(self.rng.uniform(2, 6), max(1.0, end - time.monotonic() - 1))
            started = time.monotonic()
            note = getattr(self, kind)(hold)
            self.faults.append(Fault(kind, started - self.t0, time.monotonic() - started, note))
            say(f"# {started - self.t0:6.1f}s  {kind:<14} {note}")

    def kill_web(self, hold: float) -> str:
        web = self.rng.choice(self.site.webs)
        self.site.supervisor.kill(web)
        return web.name

    def kill_worker(self, hold: float) -> str:
        self.site.supervisor.kill(self.site.worker)
        try:
            n = sql(
                self.site.db_url,
                "UPDATE partners_delivery SET lease_expires_at = now() - interval '1 second'"
                " WHERE state = 'leased'",
            )[0][0]
        except Exception as error:
            return f"its leases not expired ({type(error).__name__})"
        return f"{n} leases expired"

    def kill_partner(self, hold: float) -> str:
        self.site.supervisor.kill(self.site.partner)
        return ""

    def pg_restart(self, hold: float) -> str:
        mode = self.rng.choice(["immediate", "fast"])
        with self.site.pg.lock:
            ok = self.site.pg.restart(mode)
        return f"-m {mode}" + ("" if ok else " (restart failed; the supervisor starts it)")

    def _partner_mode(self, mode: str, hold: float) -> str:
        self.site.partner_proxy.mode = mode
        time.sleep(hold)
        self.site.partner_proxy.mode = "pass"
        return f"{hold:.1f}s"

    def partner_slow(self, hold: float) -> str:
        return self._partner_mode("slow", hold)

    def partner_500(self, hold: float) -> str:
        return self._partner_mode("error500", hold)

    def partner_drop(self, hold: float) -> str:
        return self._partner_mode("drop", hold)

    def disk_readonly(self, hold: float) -> str:
        disk = self.site.disk
        if not disk.readonly():
            return "the kernel kept it writable (a file open for writing throughout)"
        time.sleep(hold)
        disk.writable()
        return f"{hold:.1f}s"

    def disk_full(self, hold: float) -> str:
        written = self.site.disk.fill()
        time.sleep(hold)
        self.site.disk.free()
        return f"{hold:.1f}s ({written >> 20} MB to fill it)"

    def pg_disk_full(self, hold: float) -> str:
        pg = self.site.pg
        written = pg.disk.fill()
        time.sleep(hold)
        pg.disk.free()
        return f"{hold:.1f}s ({written >> 20} MB to fill it)"
