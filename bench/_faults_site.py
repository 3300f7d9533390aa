"""The fault campaign's site as deployed (bench/faults.py): its processes and how it is set up.

A Service is one process of the site (a web process, the worker, the reference partner); the
Supervisor thread restarts whatever dies, one second later, as systemd's Restart=always would,
and starts the campaign's PostgreSQL again when it is down. A Site holds them with the database,
the partner's fault proxy and the data disk; `set_up` builds it, and says which faults cannot be
injected here. `sql` runs one statement on the site's PostgreSQL database.
"""

from __future__ import annotations

import argparse
import os
import pwd
import random
import shutil
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import _common as c
from _faults_cluster import Cluster, Disk, postgres_bindir
from _faults_proxy import Proxies, Proxy

RESTART_DELAY = 1.0


@dataclass
class Service:
    name: str
    argv: list[str]
    env: dict[str, str]
    port: int = 0
    proc: c.Proc | None = None
    killed: int = 0
    restarts: int = 0
    unexpected: list[int] = field(default_factory=list)  # exit codes we did not cause
    down_since: float = 0.0


class Supervisor(threading.Thread):
    def __init__(self, services: list[Service], logdir: Path, pg: Cluster | None) -> None:
        super().__init__(name="supervisor", daemon=True)
        self.services, self.logdir, self.pg = services, logdir, pg
        self.lock = threading.Lock()
        self.running = True

    def start_service(self, s: Service) -> None:
        s.proc = c.PROCS.start(s.name, s.argv, s.env, self.logdir)
        s.down_since = 0.0

    def kill(self, s: Service) -> None:
        with self.lock:
            if s.proc is None:
                return
            c._signal_group(s.proc.popen.pid, signal.SIGKILL)
            c.PROCS.stop(s.proc, grace=2)
            s.proc, s.killed, s.down_since = None, s.killed + 1, time.monotonic()

    def run(self) -> None:
        last_pg = 0.0
        while self.running:
            with self.lock:
                for s in self.services:
                    self.watch(s)
            if self.pg and time.monotonic() - last_pg > 1 and not self.pg.held:
                last_pg = time.monotonic()
                if self.pg.lock.acquire(blocking=False):
                    try:
                        if not self.pg.running():
                            self.pg.restarts_by_supervisor += 1
                            self.pg.start()
                    finally:
                        self.pg.lock.release()
            time.sleep(0.2)

    def watch(self, s: Service) -> None:
        if s.proc is not None and s.proc.popen.poll() is not None:
            s.unexpected.append(s.proc.popen.returncode)
            c.PROCS.stop(s.proc, grace=1)
            s.proc, s.down_since = None, time.monotonic()
        if s.proc is None and time.monotonic() - s.down_since >= RESTART_DELAY:
            s.restarts += 1
            self.start_service(s)

    def alive(self) -> bool:
        return all(s.proc is not None and s.proc.popen.poll() is None for s in self.services)


@dataclass
class Site:
    env: dict[str, str]
    db_url: str
    webs: list[Service]
    worker: Service
    partner: Service
    partner_proxy: Proxy
    supervisor: Supervisor
    pg: Cluster | None
    disk: Disk | None


def sql(db_url: str, query: str, *params: object) -> list[tuple]:
    import psycopg

    with psycopg.connect(db_url, autocommit=True, connect_timeout=5) as conn:
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else [(cursor.rowcount,)]


def set_up(args: argparse.Namespace, work: Path, logdir: Path) -> tuple[Site, list[str]]:
    """The site as deployed, and the faults that cannot be injected here (with why)."""
    skipped: list[str] = []
    root = os.geteuid() == 0
    pg, db_url = database(args, work, root, skipped)
    disk, data_dir = data_disk(work, root, skipped)
    data_dir.mkdir()
    env = site_env(data_dir, db_url)
    partner_dir = work / "partner"  # the partner's own machine: not on tillit's disk
    webs = [Service(f"web{n + 1}", [], env, port=c.free_port()) for n in range(2)]
    partner = Service("partner", [], {}, port=c.free_port())
    proxies = Proxies()
    lb = proxies.add(
        Proxy("load balancer", lambda: [w.port for w in webs if w.proc], random.Random(0))
    )
    partner_proxy = proxies.add(
        Proxy("partner", lambda: [partner.port], random.Random(f"{args.seed}-proxy"))
    )
    env["TILLIT_SITE_URL"] = f"http://127.0.0.1:{lb.port}"
    c.run_init(env, partner_port=partner_proxy.port, logdir=logdir)
    shutil.copytree(data_dir / "demo" / "partner", partner_dir)
    partner.env = {**env, "PARTNER_DATA_DIR": str(partner_dir)}
    partner.argv = [*c.TILLIT, "reference-partner", "--port", str(partner.port)]
    for w in webs:
        w.argv = [*c.TILLIT, "web", "--port", str(w.port), "--no-migrate"]
        w.argv += ["--workers", "1", "--threads", "2"]
    worker = Service("worker", [*c.TILLIT, "worker"], env)
    supervisor = start_services([partner, *webs, worker], logdir, pg)
    site = Site(env, db_url, webs, worker, partner, partner_proxy, supervisor, pg, disk)
    site.lb = lb  # type: ignore[attr-defined]
    site.data_dir, site.partner_dir = data_dir, partner_dir  # type: ignore[attr-defined]
    return site, skipped


def database(
    args: argparse.Namespace, work: Path, root: bool, skipped: list[str]
) -> tuple[Cluster | None, str]:
    """A PostgreSQL server of the campaign's own when it can have one, else a throwaway database
    on the shared server; what that rules out is added to `skipped`."""
    bindir = postgres_bindir()
    try:
        pwd.getpwnam("postgres")
        has_postgres_user = True
    except KeyError:
        has_postgres_user = False
    if root and bindir and shutil.which("runuser") and has_postgres_user:
        # Room for the cluster (~70 MB with its WAL) and what the run writes, with margin.
        pg = Cluster(bindir, work, f"{256 + int(args.seconds * 0.75)}m")
        pg.init()
        if not pg.on_disk:
            skipped.append(f"pg_disk_full: mounting a tmpfs failed ({pg.disk.error})")
        return pg, pg.url("tillit")
    skipped.append(
        "pg_restart, pg_disk_full: need root, runuser, a postgres user and PostgreSQL's "
        "server binaries for a server of the campaign's own (the shared one at "
        "127.0.0.1:5432 gets a throwaway database and is never restarted)"
    )
    return None, c.create_pg_database()[1]


def data_disk(work: Path, root: bool, skipped: list[str]) -> tuple[Disk | None, Path]:
    """tillit's data directory, on a tmpfs of its own when one can be mounted."""
    disk = Disk(work / "disk", "256m")
    if root and disk.mount():
        return disk, disk.path / "tillit"
    why = disk.error if root else "not root"
    skipped.append(f"disk_readonly, disk_full: mounting a tmpfs failed ({why})")
    return None, work / "tillit"


def site_env(data_dir: Path, db_url: str) -> dict[str, str]:
    """The environment every process of the site runs with: the rights flow's limits are lifted,
    since all the campaign's people ask from one address."""
    env = c.make_env(data_dir, db_url)
    env.update(
        {
            "TILLIT_RIGHTS_CODES_PER_IP_PER_HOUR": "1000000",
            "TILLIT_RIGHTS_CHECKS_PER_IP_PER_HOUR": "1000000",
            "TILLIT_RIGHTS_CODES_PER_ADDRESS_PER_HOUR": "1000000",
        }
    )
    return env


def start_services(services: list[Service], logdir: Path, pg: Cluster | None) -> Supervisor:
    """Start each service (waiting for those with a port to answer), then their supervisor."""
    supervisor = Supervisor(services, logdir, pg)
    for s in services:
        supervisor.start_service(s)
        if s.port:
            c.wait_http(f"http://127.0.0.1:{s.port}/healthz", s.proc)
    supervisor.start()
    return supervisor
