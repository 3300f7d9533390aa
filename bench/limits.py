"""What a rate-limit count costs, where the counters live, against a whole cookie choice.

The limits that guard people (codes per address, sign-ups, codes and contact messages per IP)
are counted where every web process looks (core/ratelimit.py): in the shared database by
default, in Redis when it is configured. Each count is one statement; this measures its wall
time on a fresh `tillit init --demo` site, --hits counts per round spread over 500 addresses,
best of --rounds, next to the old per-process memory (LocMem, which did not hold across
processes) and, as the baseline measured in the same run, one whole cookie choice through the
WSGI application (bench/inproc.py's request). Printed: microseconds per count and the ratio to
the cookie choice, which is what one count adds to a visitor's POST at most.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import _common as c
import inproc


def per_call(run: Callable[[int], object], count: int, rounds: int) -> float:
    """Wall seconds per call, the best round."""
    for i in range(min(300, count)):  # warm up: connections, statement caches
        run(i)
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for i in range(count):
            run(i)
        best = min(best, (time.perf_counter() - started) / count)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hits", type=int, default=3000, help="counts per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/5", help="'' to leave out")
    args = parser.parse_args()
    c.install_cleanup()
    c.header("bench/limits.py: the cost of one rate-limit count")
    _, _, db_url, env = c.fresh_site("tillit-bench-limits-", args.postgres)
    c.become_site(env)
    from tillit.wsgi import application  # sets Django up as the web process does

    cookie_choice = inproc.requests(inproc.caller(application))["cookie choice"]
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache
    from django.test import override_settings

    from tillit.core import ratelimit

    results = {"cookie choice (baseline)": per_call(lambda i: cookie_choice(), 500, args.rounds)}

    def count(i: int) -> bool:
        return ratelimit.hit_key("bench", f"198.51.100.{i % 500}", 10**9)

    results["database"] = per_call(count, args.hits, args.rounds)
    if args.redis:
        redis = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": args.redis,
            }
        }
        with override_settings(CACHES=redis, REDIS_URL=args.redis):
            caches["default"].clear()
            results["redis"] = per_call(count, args.hits, args.rounds)
            caches["default"].clear()
    memory = LocMemCache("bench", {})
    ratelimit_cache = ratelimit.cache
    ratelimit.cache = memory  # type: ignore[assignment]
    try:
        results["process memory (old; not shared)"] = per_call(
            lambda i: ratelimit._in_cache(f"bench:{i % 500}", 3660), args.hits, args.rounds
        )
    finally:
        ratelimit.cache = ratelimit_cache
    database = "PostgreSQL" if db_url else "SQLite"
    baseline = results["cookie choice (baseline)"]
    print(f"\n## Wall time per call, {database}, best of {args.rounds}\n")
    rows = [
        [name, f"{1e6 * seconds:.1f}", f"{seconds / baseline:.1%}"]
        for name, seconds in results.items()
    ]
    print(c.table(rows, ["one call", "µs", "of a cookie choice"]))


if __name__ == "__main__":
    sys.exit(main())
