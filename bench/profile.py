"""Where a request's time goes in the real server: py-spy samples a `tillit web` worker under wrk.

Starts `tillit web --server S --workers 1` on a fresh data directory (`tillit init --demo`),
drives one endpoint with wrk (the Lua script of bench/signup.py: a new person per sign-up, a
new visitor per cookie choice), and meanwhile samples the server's worker process with
`py-spy record --format raw` (by default only threads holding the GIL, so the figures are
CPU; `--wall` counts waiting too).
Printed: requests per second and the server's CPU per request, then the functions that hold
the most samples, inclusive (the function or anything it calls) and self (the function's own
code), as a share of the samples taken while a request was being served.

py-spy is not a dependency of the product: `.venv/bin/pip install py-spy` first.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import time
from pathlib import Path

import _common as c
from _wrk import LUA, consent_body, csrf_pair, wrk


def worker_pid(master: int) -> int:
    """The process serving requests: granian's and gunicorn's worker is the master's child."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        kids = [p for p in c.tree(master) if p != master]
        if kids:
            return kids[-1]
        time.sleep(0.2)
    return master


def summarize(raw: Path, top: int, focus: list[str]) -> None:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        # Only samples inside Django's request handling count: the rest is the server idling.
        if not any("get_response" in f for f in frames):
            continue
        n = int(count)
        total += n
        names = [f.split(" (", 1)[0] + " " + _where(f) for f in frames]
        for name in set(names):
            inclusive[name] += n
        own[names[-1]] += n
    if not total:
        print("# no samples inside a request")
        return
    print(f"# {total} samples inside a request")
    for title, table in (("inclusive", inclusive), ("self", own)):
        print(f"\n## top {top} by {title} share")
        for name, n in table.most_common(top):
            print(f"{100 * n / total:6.1f}%  {name}")
    if focus:
        print("\n## focus")
        for word in focus:
            hits = {k: v for k, v in inclusive.items() if word in k}
            for name, n in sorted(hits.items(), key=lambda kv: -kv[1])[:8]:
                print(f"{100 * n / total:6.1f}%  {name}")


def _where(frame: str) -> str:
    """`func (path/to/module.py:12)` -> `module.py`, shortened to the package's last parts."""
    if " (" not in frame:
        return ""
    path = frame.split(" (", 1)[1].rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    for anchor in ("site-packages", "src"):
        if anchor in parts:
            parts = parts[parts.index(anchor) + 1 :]
            break
    return "(" + "/".join(parts[-3:]) + ")"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="py-spy profile of `tillit web` under wrk.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--mode", choices=["signup", "consent", "healthz"], default="signup")
    p.add_argument("--postgres", action="store_true")
    p.add_argument("--server", choices=["granian", "gunicorn"], default="granian")
    p.add_argument("--threads", type=int, default=4, help="tillit web --threads")
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--top", type=int, default=30)
    p.add_argument(
        "--wall",
        dest="gil",
        action="store_false",
        help="count every sample (waiting too), not only those holding the GIL (CPU)",
    )
    p.add_argument("--focus", nargs="*", default=[], help="also show frames containing these")
    p.add_argument("--keep", action="store_true")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        sys.exit("py-spy is not installed: .venv/bin/pip install py-spy")

    c.install_cleanup()
    c.header("bench/profile.py: where a request's time goes in `tillit web`")
    data_dir, logdir, _, env = c.fresh_site("tillit-bench-profile-", args.postgres, args.keep)
    port = c.free_port()
    argv = [*c.TILLIT, "web", "--port", str(port), "--server", args.server, "--workers", "1"]
    web = c.PROCS.start("web", [*argv, "--threads", str(args.threads)], env, logdir)
    base = f"http://127.0.0.1:{port}"
    try:
        c.wait_http(base + "/healthz", web)
        scripts = lua_scripts(args.mode, base, data_dir)
        url = base + {"signup": "/", "consent": "/cookies/choice", "healthz": "/healthz"}[args.mode]
        wrk(url, scripts["warm"], 3, 2, args.connections, logdir, "warm", web.popen.pid)
        raw = data_dir / "profile.txt"
        sampler = record(spy, worker_pid(web.popen.pid), args, raw)
        time.sleep(0.5)
        res, _ = wrk(
            url, scripts["run"], args.duration, 2, args.connections, logdir, "run", web.popen.pid
        )
        sampler.wait(timeout=60)
        print(
            f"# {args.mode}: {res.rps:.0f} req/s, p99 {res.p99:.1f} ms, server "
            f"{res.server_cores:.2f} cores = {1000 * res.server_cores / res.rps:.2f} ms CPU/request"
        )
        summarize(raw, args.top, args.focus)
    finally:
        c.PROCS.stop(web)


def lua_scripts(mode: str, base: str, data_dir: Path) -> dict[str, Path]:
    """The wrk scripts of the warm-up and the profiled run, written to data_dir."""
    cookie, token = csrf_pair(base)
    scripts = {}
    for phase in ("warm", "run"):
        scripts[phase] = data_dir / f"{phase}.lua"
        scripts[phase].write_text(
            LUA
            % {
                "mode": mode,
                "prefix": f"prof{phase[0]}",
                "token": token,
                "cookie": cookie,
                "consent_body": consent_body(base),
            }
        )
    return scripts


def record(spy: str, pid: int, args: argparse.Namespace, raw: Path) -> subprocess.Popen[bytes]:
    """py-spy recording the process pid for the run (and a second more) into raw."""
    return subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--rate",
            str(args.rate),
            "--duration",
            str(args.duration + 1),
            "--output",
            str(raw),
            "--nonblocking",
            *(["--gil"] if args.gil else []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


if __name__ == "__main__":
    main()
