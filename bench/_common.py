"""Helpers shared by the bench scripts: processes, ports, throwaway databases, memory and CPU
of process trees. `_cpu` reads the CPU of other processes, `_pg` copies and watches databases.

Every process a bench starts is started here, in its own session (process group), and
remembered; `Procs.stop_all()` (called from `finally`, atexit and on SIGTERM/SIGINT) ends each
of those groups by its id: SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import atexit
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
TILLIT = [sys.executable, "-m", "tillit"]
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def command_line() -> str:
    """The exact command line that is running, as it could be typed again."""
    return " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv])


def header(title: str) -> None:
    print(f"# {title}")
    print(f"# command: {command_line()}")
    print(f"# cwd: {os.getcwd()}")
    load = os.getloadavg()
    print(
        f"# machine: {os.cpu_count()} cores, load average before start "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; started "
        f"{time.strftime('%Y-%m-%d %H:%M:%S')}"
    )
    sys.stdout.flush()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path


@dataclass
class Procs:
    procs: list[Proc] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str], logdir: Path) -> Proc:
        log = logdir / f"{name}.log"
        with open(log, "ab") as out:
            popen = subprocess.Popen(
                argv,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=str(REPO),
            )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc, grace: float = 10.0) -> None:
        """SIGTERM the process group we started, then SIGKILL it if it lingers."""
        pgid = proc.popen.pid  # start_new_session: the group id is the leader's pid
        if proc.popen.poll() is None:
            _signal_group(pgid, signal.SIGTERM)
            try:
                proc.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        # Children (server workers) may outlive the leader: sweep the group.
        deadline = time.monotonic() + grace
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _group_alive(pgid) or proc.popen.poll() is None:
            _signal_group(pgid, signal.SIGKILL)
            try:
                proc.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in list(reversed(self.procs)):
            try:
                self.stop(proc, grace=5.0)
            except Exception as error:  # keep going: the others must stop too
                print(f"# warning: stopping {proc.name}: {error}", file=sys.stderr)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _group_alive(pgid: int) -> bool:
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.getpgid(int(entry)) == pgid:
                stat = Path(f"/proc/{entry}/stat").read_text()
                if stat.rsplit(")", 1)[1].split()[0] != "Z":
                    return True
        except (ProcessLookupError, FileNotFoundError, PermissionError):
            continue
    return False


PROCS = Procs()
_cleanups: list = []


def on_exit(fn) -> None:  # noqa: ANN001
    """Run fn at exit (after the processes are stopped), even on error or SIGTERM."""
    _cleanups.append(fn)


def _cleanup() -> None:
    PROCS.stop_all()
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception as error:
            print(f"# warning: cleanup: {error}", file=sys.stderr)


def install_cleanup() -> None:
    atexit.register(_cleanup)

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def cleanup_now() -> None:
    _cleanup()


# --- process tree memory ----------------------------------------------------------------


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{tid}/children").read_text().split()
            kids += [int(k) for k in text]
    except (FileNotFoundError, ProcessLookupError):
        pass
    return kids


def tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += _children(p)
    return out


def vm_kb(pid: int, key: str = "VmHWM") -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def tree_cpu_seconds(pid: int) -> float:
    """utime + stime of every process of the tree rooted at pid (all their threads)."""
    ticks = 0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[float, float]:
    """(total, idle) CPU seconds of the whole machine so far, from /proc/stat."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    hz = os.sysconf("SC_CLK_TCK")
    return sum(f) / hz, (f[3] + f[4]) / hz


def warn_if_busy() -> None:
    load = os.getloadavg()[0]
    if load > 0.5:
        print(
            f"# WARNING: load average {load:.2f} before start: other work on this machine "
            "competes for the same cores, so the figures are noisy",
            flush=True,
        )


@dataclass
class Mem:
    processes: int
    max_mb: float
    sum_mb: float

    def __str__(self) -> str:
        return (
            f"max {self.max_mb:.0f} MB / sum {self.sum_mb:.0f} MB "
            f"over {self.processes} process{'es' if self.processes != 1 else ''}"
        )


def tree_rss(pid: int) -> Mem:
    """VmRSS (resident set now) of each process of the tree rooted at pid."""
    values = [vm_kb(p, "VmRSS") for p in tree(pid)]
    values = [v for v in values if v]
    return Mem(len(values), max(values, default=0) / 1024, sum(values) / 1024)


def tree_hwm(pid: int) -> Mem:
    """VmHWM (peak resident set) of each process of the tree rooted at pid."""
    values = [vm_kb(p) for p in tree(pid)]
    values = [v for v in values if v]
    return Mem(len(values), max(values, default=0) / 1024, sum(values) / 1024)


# --- the environment and the data directory ------------------------------------------------


def make_env(data_dir: Path, database_url: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TILLIT_", "PARTNER_", "DJANGO_")) and k != "DATABASE_URL"
    }
    env.update(
        {
            "TILLIT_DATA_DIR": str(data_dir),
            "TILLIT_SIGNUPS_PER_IP_PER_HOUR": "1000000000",
            "TILLIT_DEMO": "true",
            "TILLIT_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def temp_dir(prefix: str, keep: bool = False) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if not keep:
        on_exit(lambda: shutil.rmtree(path, ignore_errors=True))
    return path


def fresh_site(prefix: str, postgres: bool, keep: bool = False) -> tuple[Path, Path, str, dict]:
    """A fresh data directory with its `bench-logs/`, a throwaway PostgreSQL database when
    asked, the environment for both, and `tillit init --demo` run in it:
    (data_dir, logdir, database_url or "", env)."""
    data_dir = temp_dir(prefix, keep=keep)
    logdir = data_dir / "bench-logs"
    logdir.mkdir()
    db_url = create_pg_database()[1] if postgres else ""
    env = make_env(data_dir, db_url)
    run_init(env, partner_port=free_port(), logdir=logdir)
    return data_dir, logdir, db_url, env


def become_site(env: dict[str, str]) -> None:
    """Make this process one of the site's (before Django starts): its environment is `env`,
    with no TILLIT_, DJANGO_ or DATABASE_URL setting of the caller's left over."""
    for name in [
        k for k in os.environ if k.startswith(("TILLIT_", "DJANGO_")) or k == "DATABASE_URL"
    ]:
        del os.environ[name]
    os.environ.update(env)


def create_pg_database() -> tuple[str, str]:
    """A throwaway database tillit_bench_<random>, dropped at exit. Returns (name, url)."""
    name = f"tillit_bench_{secrets.token_hex(4)}"
    assert name != "test"
    return throwaway_database(name, f'CREATE DATABASE "{name}"')


def throwaway_database(name: str, create_sql: str) -> tuple[str, str]:
    """Run create_sql (it makes the database `name`) and drop that database at exit.
    Returns (name, url)."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(create_sql)

    def drop() -> None:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    on_exit(drop)
    return name, f"postgres://postgres@127.0.0.1:5432/{name}"


def run_init(env: dict[str, str], partner_port: int, logdir: Path) -> None:
    with open(logdir / "init.log", "ab") as out:
        subprocess.run(
            [*TILLIT, "init", "--demo", "--partner-port", str(partner_port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=120,
            cwd=str(REPO),
        )


def wait_http(url: str, proc: Proc, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(
                f"{proc.name} exited with {proc.popen.returncode}; log:\n{tail(proc.log)}"
            )
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(
        f"{proc.name} did not answer {url} within {timeout:.0f}s; log:\n{tail(proc.log)}"
    )


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def log_problems(path: Path, shown: int = 3) -> tuple[int, list[str]]:
    """(lines at WARNING or worse, or tracebacks; a few distinct ones without their time)."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return 0, []
    bad = [
        line
        for line in lines
        if " WARNING " in line or " ERROR " in line or " CRITICAL " in line or "Traceback" in line
    ]
    distinct: list[str] = []
    for line in bad:
        text = line.split(" ", 2)[-1] if line[:4].isdigit() else line
        if text not in distinct:
            distinct.append(text)
    return len(bad), distinct[:shown]


def table(rows: list[list[str]], head: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]

    def fmt(r: list[str]) -> str:
        return "  ".join(
            str(c).rjust(w) if i else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(head), sep, *(fmt(r) for r in rows)])
