"""The tables and notes bench/signup.py prints once every database and server has run.

Each result is one database and server: wrk's figures for /healthz and for sign-ups, the
server's peak memory, and, unless --no-record, the worker's recording of the backlog. The
tables give the figures, the targets (the sign-up/healthz ratio, sign-up p99, memory) with
PASS or FAIL, and the recording; the notes say what each column means.
"""

from __future__ import annotations

import _common as c
from _wrk import Result


def throughput_table(results: list[dict]) -> None:
    """Each endpoint's wrk figures, for each database and server."""
    rows = []
    for r in results:
        for mode in ("healthz", "signup"):
            x: Result = r[mode]
            rows.append(
                [
                    r["db"],
                    r["server"],
                    mode,
                    f"{x.rps:.0f}",
                    f"{x.p50:.1f}",
                    f"{x.p99:.1f}",
                    f"{x.max:.0f}",
                    str(x.requests),
                    str(x.bad),
                    str(x.socket_errors),
                    f"{x.cpu:.0%}",
                    f"{x.server_cores:.2f}",
                    str(r["signup_subjects"]) if mode == "signup" else "-",
                ]
            )
    print()
    print(
        c.table(
            rows,
            [
                "db",
                "server",
                "endpoint",
                "req/s",
                "p50 ms",
                "p99 ms",
                "max ms",
                "requests",
                "non-2xx/3xx",
                "sock err",
                "machine cpu",
                "server cores",
                "sign-ups accepted",
            ],
        )
    )


def targets_table(results: list[dict]) -> None:
    """The targets: the sign-up/healthz ratio, sign-up p99 and the server's peak memory."""
    rows = []
    for r in results:
        h, s = r["healthz"], r["signup"]
        ratio = s.rps / h.rps if h.rps else 0
        rows.append(
            [
                r["db"],
                r["server"],
                f"{ratio:.1%}",
                "PASS" if ratio >= 0.25 else "FAIL",
                f"{s.p99:.1f}",
                "PASS" if s.p99 < 100 else "FAIL",
                f"{h.p99:.1f}",
                f"{r['mem'].max_mb:.0f}",
                "PASS" if r["mem"].max_mb <= 80 else "FAIL",
                f"{r['mem'].sum_mb:.0f}",
                str(r["mem"].processes),
            ]
        )
    print()
    print(
        c.table(
            rows,
            [
                "db",
                "server",
                "signup/healthz",
                ">=25%",
                "signup p99 ms",
                "<100ms",
                "healthz p99 ms",
                "HWM max MB",
                "<=80MB",
                "HWM sum MB",
                "procs",
            ],
        )
    )


def recording_table(results: list[dict]) -> None:
    """The worker recording the accepted sign-ups afterwards, where it ran."""
    recorded = [r for r in results if "record" in r]
    if recorded:
        print()
        print(
            c.table(
                [
                    [
                        r["db"],
                        r["server"],
                        str(r["record"]["waiting"]),
                        str(r["record"]["left"]),
                        f"{r['record']['seconds']:.1f}",
                        f"{r['record']['rate']:.0f}",
                        f"{r['record']['cpu_ms']:.2f}",
                        f"{r['record']['hwm_mb']:.0f}",
                        str(r["record"]["subjects"]),
                    ]
                    for r in recorded
                ],
                [
                    "db",
                    "server",
                    "accepted",
                    "left",
                    "seconds",
                    "recorded/s",
                    "worker CPU ms each",
                    "worker HWM MB",
                    "subjects",
                ],
            )
        )


def notes(results: list[dict]) -> None:
    """What the targets and the columns mean."""
    print()
    print(
        "# targets: sign-up req/s >= 25% of the same server's /healthz req/s; sign-up p99 "
        "< 100 ms at 32 connections; peak memory of one web process <= 80 MB"
    )
    print(
        "# recording: after the web server stopped, one `tillit worker` (no partner running, "
        "nothing confirmed, so nothing is delivered) turned every accepted sign-up into its "
        "subject, consent records, lead, delivery, e-mail job and audit event; 'recorded/s' is "
        "from the first recorded to the last, 'subjects' should equal 'accepted' (all runs, "
        "warm-up included) unless the same address came twice"
    )
    print(
        "# memory: VmHWM (peak RSS) from /proc/<pid>/status of every process of the "
        "server's tree (master + workers), read before stopping it; 'max' = largest single "
        "process, 'sum' = sum over the tree (an upper bound: peaks need not coincide)"
    )
    print(
        "# 'machine cpu' = share of the whole machine's CPU time (all cores, all processes: "
        "wrk, server, database, anything else running) that was not idle during the run; "
        "'server cores' = CPU seconds used by the web server's process tree per second "
        "(2.00 = both cores)"
    )
    print(
        "# 'sign-ups accepted' = sealed intakes added during the measured sign-up run (counted "
        "once the count settles; it can exceed the 3xx count by up to the connection count: "
        "requests in flight when wrk stopped complete too); e-mail jobs queued (none run): "
        + ", ".join(f"{r['db']}/{r['server']}={r['tasks']}" for r in results)
    )
