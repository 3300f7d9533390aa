"""The fault campaign's own PostgreSQL server and its tmpfs disks (bench/faults.py).

A Disk is a tmpfs mounted for one directory, which the disk faults remount read-only or fill up.
A Cluster is a PostgreSQL server initialised in a directory of its own (on such a disk when the
campaign runs as root), with its own port and socket directory, so that the campaign can restart
it or fill its disk without touching anyone else's server.
"""

from __future__ import annotations

import glob
import pwd
import shutil
import subprocess
import threading
import time
from pathlib import Path

import _common as c


def postgres_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class Disk:
    """A tmpfs of its own at `path`: remounted read-only and back, filled up and freed."""

    def __init__(self, path: Path, size: str, owner: str = "") -> None:
        self.path, self.size, self.owner = path, size, owner
        self.filler = path / "filler"
        self.error = ""

    def mount(self) -> bool:
        """False when the kernel refuses (not root, or a container without CAP_SYS_ADMIN)."""
        self.path.mkdir(parents=True, exist_ok=True)
        options = f"size={self.size},mode=0755"
        if self.owner:
            entry = pwd.getpwnam(self.owner)
            options += f",uid={entry.pw_uid},gid={entry.pw_gid},mode=0700"
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(self.path)], capture_output=True
        )
        if done.returncode:
            self.error = done.stderr.decode(errors="replace").strip()
            return False
        c.on_exit(self.umount)
        return True

    def umount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=False, capture_output=True)

    def readonly(self, timeout: float = 3.0) -> bool:
        """Remount read-only; the kernel refuses (EBUSY) while a file is open for writing, so
        try again for a while."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = subprocess.run(
                ["mount", "-o", "remount,ro", str(self.path)], capture_output=True
            )
            if done.returncode == 0:
                return True
            time.sleep(0.05)
        return False

    def writable(self) -> None:
        subprocess.run(["mount", "-o", "remount,rw", str(self.path)], check=True)

    def fill(self) -> int:
        written = 0
        with open(self.filler, "wb") as out:
            block = b"\0" * (1 << 20)
            try:
                while True:
                    out.write(block)
                    out.flush()
                    written += len(block)
            except OSError:
                pass
        return written

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)


class Cluster:
    """initdb in a directory of its own (on its own tmpfs when root), its own port and socket
    directory; as tests/e2e/test_outages.py's Cluster, with restarts and a disk to fill."""

    def __init__(self, bindir: Path, root: Path, disk_size: str) -> None:
        self.bindir = bindir
        self.disk = Disk(root / "pg-disk", disk_size, owner="postgres")
        self.data = self.disk.path / "data"
        self.sockets = root / "pg-run"
        self.log = self.sockets / "server.log"
        self.port = c.free_port()
        self.lock = threading.Lock()
        self.held = False
        self.restarts_by_supervisor = 0

    def url(self, db: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def _pg(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["runuser", "-u", "postgres", "--", *args], capture_output=True, timeout=timeout
        )

    def init(self) -> None:
        self.on_disk = self.disk.mount()
        if not self.on_disk:
            self.disk.path.mkdir(exist_ok=True)
            shutil.chown(self.disk.path, "postgres", "postgres")
            self.disk.path.chmod(0o700)
        self.sockets.mkdir()
        shutil.chown(self.sockets, "postgres", "postgres")
        done = self._pg(
            str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
            "--no-sync",
        )  # fmt: skip
        if done.returncode:
            raise SystemExit(f"initdb failed: {done.stderr.decode()}")
        c.on_exit(lambda: self.stop("immediate"))
        self.start()
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE tillit")

    def options(self) -> str:
        return (
            f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 "
            "-c max_wal_size=64MB -c min_wal_size=32MB -c max_connections=100"
        )

    def start(self) -> bool:
        done = self._pg(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", self.options(),
            "-l", str(self.log), "-w", "-t", "60", "start",
        )  # fmt: skip
        return done.returncode == 0

    def stop(self, mode: str = "fast") -> None:
        self._pg(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, mode: str) -> bool:
        done = self._pg(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-o", self.options(),
            "-l", str(self.log), "-w", "-t", "60", "restart",
        )  # fmt: skip
        return done.returncode == 0

    def running(self) -> bool:
        return self._pg(str(self.bindir / "pg_ctl"), "-D", str(self.data), "status").returncode == 0
