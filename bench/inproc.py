"""CPU per request of the visitor's hot paths in-process, without a server or a load generator.

Calls `tillit.wsgi.application` (the WSGI application the servers run, with its short
middleware chain for the public POSTs) directly from one thread on a fresh `tillit init --demo`
site and times `time.thread_time()` over --requests requests, best of --rounds: a cookie choice
(POST /cookies/choice from a browser with no choice yet, so each one appends a proof record
and sets a signed cookie) and GET /healthz, the same baseline as bench/consent.py. Printed:
milliseconds of CPU per request and their ratio. A server adds its own cost to both (see
bench/consent.py for the figures through `tillit web`); this is the part that tillit's code and
Django spend, and it is far steadier than the server's figures on a shared machine. With
--profile, cProfile's top functions for the cookie choice follow.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
import time
from collections.abc import Callable
from http.cookies import SimpleCookie

import _common as c


def caller(application: Callable) -> Callable[..., tuple[str, list, bytes]]:
    def call(method: str, path: str, body: bytes = b"", **headers: str) -> tuple[str, list, bytes]:
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "127.0.0.1",
            "REMOTE_ADDR": "127.0.0.1",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http",
        }
        for name, value in headers.items():
            key = name.upper() if name == "content_type" else "HTTP_" + name.upper()
            environ[key] = value
        seen: dict = {}

        def start_response(status: str, header_list: list, exc_info: object = None) -> None:
            seen["status"], seen["headers"] = status, header_list

        content = b"".join(application(environ, start_response))
        return seen["status"], seen["headers"], content

    return call


def requests(call: Callable[..., tuple[str, list, bytes]]) -> dict[str, Callable[[], None]]:
    """The two requests, as a browser with no cookie choice yet would send them."""
    _, headers, page = call("GET", "/")
    jar = SimpleCookie()
    for name, value in headers:
        if name.lower() == "set-cookie":
            jar.load(value)
    cookie = f"csrftoken={jar['csrftoken'].value}"
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()
    banner = json.loads(page.split(b'type="application/json">', 1)[1].split(b"</script>", 1)[0])
    body = json.dumps(
        {"action": "reject_all", "source": "banner", "granted": [], "version": banner["version"]}
    ).encode()

    def choice() -> None:
        status, _, answer = call(
            "POST", "/cookies/choice", body, content_type="application/json", cookie=cookie,
            x_csrftoken=token,
        )  # fmt: skip
        if not status.startswith("200"):
            raise RuntimeError(f"a cookie choice was refused: {status} {answer[:200]!r}")

    def healthz() -> None:
        call("GET", "/healthz")

    return {"cookie choice": choice, "healthz": healthz}


def measure(paths: dict[str, Callable[[], None]], count: int, rounds: int) -> dict[str, float]:
    """Seconds of this thread's CPU per request, the best round of each."""
    for run in paths.values():  # warm up: caches, the statement cache, the allocator
        for _ in range(min(300, count)):
            run()
    best = {name: float("inf") for name in paths}
    for _ in range(rounds):
        for name, run in paths.items():
            started = time.thread_time()
            for _ in range(count):
                run()
            best[name] = min(best[name], (time.thread_time() - started) / count)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument("--profile", action="store_true", help="cProfile the cookie choice")
    args = parser.parse_args()
    c.install_cleanup()
    c.header("bench/inproc.py: CPU per request in-process (no server)")
    _, _, db_url, env = c.fresh_site("tillit-bench-inproc-", args.postgres)
    c.become_site(env)  # before Django starts: this process is the site's web process
    from tillit.wsgi import application

    paths = requests(caller(application))
    best = measure(paths, args.requests, args.rounds)
    database = "PostgreSQL" if db_url else "SQLite"
    print(f"\n## CPU per request, {database}, best of {args.rounds} x {args.requests}\n")
    rows = [[name, f"{1000 * seconds:.3f}"] for name, seconds in best.items()]
    rows.append(["healthz / cookie choice", f"{best['healthz'] / best['cookie choice']:.1%}"])
    print(c.table(rows, ["request", "CPU ms"]))
    if args.profile:
        import cProfile
        import pstats

        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.requests):
            paths["cookie choice"]()
        profile.disable()
        print("\n## cProfile of the cookie choice, by own time\n")
        pstats.Stats(profile, stream=sys.stdout).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    sys.exit(main())
