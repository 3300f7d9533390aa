"""The cookie banner's figures: its weight, how fast choices are recorded, how soon it shows.

1. Bytes: our consent.js + consent.css, raw and gzip -9, next to the peers measured in
   ../shared/research/consent.md (npm tarballs, gzip -9, 2026-11-25).
2. Consent records per second through `tillit web` (POST /cookies/choice, each from a browser
   with no choice yet, so each makes a new proof record and a signed cookie), next to the same
   server's GET /healthz in the same run. Target: >= 50 % of /healthz.
3. Milliseconds from DOMContentLoaded to a visible banner in headless Chromium (median and
   p95 over --loads page loads, each in a fresh profile).
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
from pathlib import Path

import _common as c
from _cpu import PgCpu
from _wrk import LUA, consent_body, count_rows, csrf_pair, wrk
from tillit.consent.scan import CHROMIUM_ARGS

STATIC = c.REPO / "src" / "tillit" / "consent" / "static" / "consent"
PEERS = [  # (name, gzip bytes of JS + CSS as shipped), from ../shared/research/consent.md §2
    ("vanilla-cookieconsent 3.1.0 (UMD JS + CSS)", 15_513),
    ("fides.js (Ethyca Fides; PR #3431, 2023)", 15_520),
    ("Klaro 0.7.22 (no-css JS + min CSS)", 67_167),
]
# Installed before any page script: notes (in ms since the navigation started) when
# DOMContentLoaded fires and when the dialog #cc is first visible. consent.js is deferred, so it
# runs just before DOMContentLoaded: the banner can be visible before that event.
TIMING = """
window.__cc = {};
const seen = () => {
  const dialog = document.getElementById("cc");
  if (dialog && !dialog.hidden && !window.__cc.shown) window.__cc.shown = performance.now();
};
new MutationObserver(seen).observe(document, {subtree: true, childList: true, attributes: true});
document.addEventListener("DOMContentLoaded", () => { window.__cc.dcl = performance.now(); });
"""


def sizes() -> list[list[str]]:
    js, css = (STATIC / "consent.js").read_bytes(), (STATIC / "consent.css").read_bytes()
    ours = len(gzip.compress(js + css, 9))
    rows = [
        ["tillit consent.js", f"{len(js):,}", f"{len(gzip.compress(js, 9)):,}", ""],
        ["tillit consent.css", f"{len(css):,}", f"{len(gzip.compress(css, 9)):,}", ""],
        ["tillit together (budget 6,144)", f"{len(js) + len(css):,}", f"{ours:,}", "1.00"],
    ]
    rows += [[name, "", f"{size:,}", f"{size / ours:.1f}x"] for name, size in PEERS]
    return rows


def throughput(
    base: str, web_pid: int, args: argparse.Namespace, work: Path, pg: PgCpu | None
) -> list[list[str]]:
    cookie, token = csrf_pair(base)
    body = consent_body(base)
    results, database = {}, {}
    for mode in ("healthz", "consent"):
        script = work / f"{mode}.lua"
        script.write_text(
            LUA
            % {"mode": mode, "prefix": "c", "token": token, "cookie": cookie, "consent_body": body}
        )
        url = base + ("/healthz" if mode == "healthz" else "/cookies/choice")
        if args.warmup:
            wrk(url, script, args.warmup, 2, args.connections, work, f"{mode}-warm", web_pid)
        if pg:
            pg.mark()
        results[mode], _ = wrk(url, script, args.duration, 2, args.connections, work, mode, web_pid)
        database[mode] = pg.used() / results[mode].raw["duration_us"] * 1e6 if pg else 0.0
    rows = []
    for mode, r in results.items():
        rows.append(
            [
                mode,
                f"{r.rps:,.0f}",
                f"{r.p50:.1f}",
                f"{r.p99:.1f}",
                str(r.requests),
                str(r.bad + r.socket_errors),
                f"{r.server_cores:.2f}",
                f"{1000 * r.server_cores / r.rps:.2f}" if r.rps else "-",
                f"{database[mode]:.2f}" if pg else "",
                f"{r.cpu:.0%}",
            ]
        )
    ratio = results["consent"].rps / results["healthz"].rps
    verdict = "PASS" if ratio >= 0.5 else "FAIL"
    rows.append(
        ["consent/healthz", f"{ratio:.1%}", "", "", "", "", f">= 50 % {verdict}", "", "", ""]
    )
    return rows


def banner_delay(base: str, loads: int) -> list[tuple[float, float]]:
    from playwright.sync_api import sync_playwright

    delays = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True
        )
        try:
            for _ in range(loads + 2):  # the first two warm up the server and the browser
                context = browser.new_context(locale="nb-NO")
                context.add_init_script(TIMING)
                page = context.new_page()
                page.goto(base + "/")
                page.locator("#cc").wait_for(state="visible", timeout=10_000)
                timing = page.evaluate("window.__cc")
                delays.append((timing["dcl"], timing["shown"]))
                context.close()
        finally:
            browser.close()
    return delays[2:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--loads", type=int, default=30, help="page loads timed in Chromium")
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    c.install_cleanup()
    c.header("bench/consent.py: the cookie banner's bytes, records/s and time to show")
    print("\n## 1. Bytes (gzip -9)\n")
    print(c.table(sizes(), ["file", "raw bytes", "gzip bytes", "vs ours"]))

    work = c.temp_dir("tillit-bench-consent-", keep=args.keep)
    db_name, db_url = c.create_pg_database() if args.postgres else ("", "")
    env = c.make_env(work, db_url)
    c.run_init(env, partner_port=c.free_port(), logdir=work)
    port = c.free_port()
    web = c.PROCS.start("web", [*c.TILLIT, "web", "--port", str(port)], env, work)
    base = f"http://127.0.0.1:{port}"
    try:
        c.wait_http(base + "/healthz", web)
        throughput_report(base, web.popen.pid, args, work, db_name, db_url)
        banner_report(base, args.loads)
    finally:
        c.PROCS.stop(web)
    return None


def throughput_report(
    base: str, web_pid: int, args: argparse.Namespace, work: Path, db_name: str, db_url: str
) -> None:
    """Part 2: consent records per second next to /healthz, and the records written."""
    before = count_rows(db_url, work, "select count(*) from consent_cookieconsent")
    rows = throughput(base, web_pid, args, work, PgCpu(db_name) if db_name else None)
    made = count_rows(db_url, work, "select count(*) from consent_cookieconsent") - before
    print(
        f"\n## 2. Consent records per second ({'PostgreSQL' if db_url else 'SQLite'}, "
        f"wrk -t2 -c{args.connections} -d{args.duration}s, tillit web defaults)\n"
    )
    print(
        c.table(
            rows,
            [
                "endpoint",
                "req/s",
                "p50 ms",
                "p99 ms",
                "requests",
                "errors",
                "cores",
                "CPU ms/req",
                "database cores",
                "machine busy",
            ],
        )
    )
    print(
        "# cores = the web process's CPU seconds per second; CPU ms/req = its CPU per answer; "
        "database cores = the PostgreSQL backends'; machine busy = all processes, wrk's too"
    )
    print(f"# proof records in the database after both runs (incl. warm-up): {made}")


def banner_report(base: str, loads: int) -> None:
    """Part 3: the time from navigation to a visible banner, in headless Chromium."""
    timings = banner_delay(base, loads)
    print(
        f"\n## 3. Time to a visible banner, Chromium, {len(timings)} loads "
        "(ms since navigation start; after DCL = banner minus DOMContentLoaded)\n"
    )
    rows = []
    for label, values in (
        ("DOMContentLoaded", [d for d, _ in timings]),
        ("banner visible", [v for _, v in timings]),
        ("banner after DCL", [v - d for d, v in timings]),
    ):
        q = statistics.quantiles(values, n=20)
        rows.append(
            [label, f"{statistics.median(values):.1f}", f"{q[18]:.1f}", f"{max(values):.1f}"]
        )
    print(c.table(rows, ["", "median ms", "p95 ms", "max ms"]))


if __name__ == "__main__":
    sys.exit(main())
