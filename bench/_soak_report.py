"""What bench/soak.py records of its run, what it counts after, and the tables it prints.

A `Run` holds the measured interval, the memory `Point`s sampled on the way and the CPU each
process used; `final_counts` reads from the database what the site made of the sign-ups once
the queue has drained. `report` prints the latency and the checks (each accepted sign-up
confirmed, delivered once, audited), `report_memory` the samples and the memory's growth.
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import _common as c
from _openloop import Confirmer, Load, Sample, pct, summarise
from _wrk import count_rows


@dataclass
class Point:
    """One sample: the memory of every process, and how far the run had got."""

    label: str
    at: float
    mem: dict[str, c.Mem]
    delivered: int


@dataclass
class Run:
    signups_due: int = 0
    measured_from: float = 0.0
    measured_to: float = 0.0
    points: list[Point] = field(default_factory=list)
    cpu: dict = field(default_factory=dict)
    machine_busy: float = 0.0
    client_cores: float = 0.0


def final_counts(db_url: str) -> dict[str, int]:
    q = {
        "subjects": "select count(*) from subjects_subject",
        "active": "select count(*) from subjects_subject where state='active'",
        "deliveries": "select count(*) from partners_delivery",
        "delivered": "select count(*) from partners_delivery where state='delivered'",
        "claims": "select coalesce(sum(attempts),0) from partners_delivery",
        "claimed_twice": "select count(*) from partners_delivery where attempts > 1",
        "audit_delivered": "select count(*) from audit_auditevent where action='lead.delivered'",
        "lead_envelopes": "select count(*) from vault_envelope where purpose='lead'",
        "tasks": "select count(*) from django_tasks_database_dbtaskresult",
        "tasks_ok": "select count(*) from django_tasks_database_dbtaskresult "
        "where status='SUCCESSFUL'",
    }
    return {k: int(count_rows(db_url, Path(), sql)) for k, sql in q.items()}


def twice_detail(db_url: str) -> str:
    """Leads by attempts, with the time from release to delivery of each group."""
    import psycopg

    with psycopg.connect(db_url.replace("postgres://", "postgresql://", 1)) as conn:
        rows = conn.execute(
            "select attempts, count(*), min(delivered_at - released_at), "
            "max(delivered_at - released_at) from partners_delivery group by attempts "
            "order by attempts"
        ).fetchall()
    return "; ".join(
        f"{a} attempt{'s' if a != 1 else ''}: {n} (released -> delivered {lo}..{hi})"
        for a, n, lo, hi in rows
    )


def report(
    args: argparse.Namespace,
    run: Run,
    load: Load,
    confirmer: Confirmer,
    accepted: int,
    confirm_s: float,
    drain_s: float,
    partner_count: int,
    counts: dict[str, int],
) -> None:
    """The latency table of the measured part, the checks table, and the CPU used."""
    measured = [s for s in load.samples if run.measured_from <= s.due < run.measured_to]
    seconds = run.measured_to - run.measured_from
    latency_table(load, measured, seconds)
    sign = summarise(measured, "signup")
    held = sign["sent"] / seconds
    rows = [
        *_rate_rows(args, load, held),
        *_outcome_rows(confirmer, accepted, confirm_s, drain_s, partner_count, counts),
    ]
    print()
    print(c.table(rows, ["figure", "value", "detail", "check"]))
    print()
    print(
        "# CPU while measured (cores busy on average; 2.00 = the whole machine): "
        + ", ".join(f"{k} {v:.2f}" for k, v in run.cpu.items())
        + f", this script (load + confirmer) {run.client_cores:.2f}; machine busy "
        f"{run.machine_busy:.0%} (everything, PostgreSQL and other users included)"
    )
    print(
        "# latency: 'p50/p99/max' from the request being written to the last byte of the "
        "answer; 'p99 from due' from the moment the open-loop schedule wanted it sent (it "
        "includes any wait for a free client thread)"
    )


def latency_table(load: Load, measured: list[Sample], seconds: float) -> None:
    """Sign-ups and confirmations of the measured part: counts, errors and latency."""
    rows = []
    for kind, label in (("signup", "POST / (sign-up)"), ("confirm", "POST /confirm/<token>/")):
        m = summarise(measured, kind)
        a = summarise(load.samples, kind)
        rows.append(
            [
                label,
                str(m["sent"]),
                f"{m['sent'] / seconds:.2f}",
                str(m["bad"]),
                str(m["socket"]),
                f"{m['p50']:.1f}",
                f"{m['p99']:.1f}",
                f"{m['max']:.0f}",
                f"{m['due_p99']:.1f}",
                f"{a['sent']} / {a['bad'] + a['socket']}",
            ]
        )
        if a["statuses"] or a["errors"]:
            print(f"# {label}: statuses {a['statuses']}, socket errors {a['errors']}")
    print()
    print(
        c.table(
            rows,
            [
                f"measured {seconds:.0f}s",
                "requests",
                "per s",
                "non-2xx/3xx",
                "sock err",
                "p50 ms",
                "p99 ms",
                "max ms",
                "p99 from due",
                "whole run: sent / errors",
            ],
        )
    )


def _rate_rows(args: argparse.Namespace, load: Load, held: float) -> list[list[str]]:
    """The checks of the client: the rate it held, and the errors over the whole run."""
    errors = sum(1 for s in load.samples if not (s.status and 200 <= s.status < 400))
    return [
        [
            "sign-up rate held",
            f"{held:.2f}/s",
            f"asked {args.rate:g}/s; the client was at most "
            f"{load.max_send_lag * 1000:.0f} ms behind its schedule",
            "PASS" if held >= 0.99 * args.rate and load.max_send_lag < 1 else "FAIL",
        ],
        [
            "errors, whole run (sign-ups + confirmations)",
            str(errors),
            f"target 0; {load.stale_retries} requests sent again after the server had closed "
            "an idle kept-alive connection",
            _pf(errors == 0),
        ],
    ]


def _outcome_rows(
    confirmer: Confirmer,
    accepted: int,
    confirm_s: float,
    drain_s: float,
    partner_count: int,
    counts: dict[str, int],
) -> list[list[str]]:
    """The checks of what the site made of the accepted sign-ups, to the partner's side."""
    return [
        [
            "sign-ups accepted (302) / subjects made",
            f"{accepted} / {counts['subjects']}",
            "equal: each 302 was a new person",
            _pf(accepted == counts["subjects"]),
        ],
        [
            "confirmation e-mails read / confirmed (active)",
            f"{confirmer.queued} / {counts['active']}",
            f"e-mail jobs {counts['tasks_ok']}/{counts['tasks']} successful; "
            f"{len(confirmer.no_link)} mails without a link; last confirmation "
            + (f"{confirm_s:.0f}s after the load stopped" if confirm_s >= 0 else "TIMED OUT"),
            _pf(confirmer.queued == counts["active"] == accepted),
        ],
        [
            "leads at the partner (/leads.json) / accepted",
            f"{partner_count} / {accepted}",
            "after the queue drained ("
            + (f"{drain_s:.0f}s after the confirmations)" if drain_s >= 0 else "TIMED OUT)"),
            _pf(partner_count == accepted),
        ],
        [
            "deliveries delivered / audit lead.delivered",
            f"{counts['delivered']} / {counts['audit_delivered']}",
            f"of {counts['deliveries']}; {counts['lead_envelopes']} lead envelopes left",
            _pf(counts["delivered"] == counts["audit_delivered"] == accepted),
        ],
        [
            "claims (attempts) / leads claimed more than once",
            f"{counts['claims']} / {counts['claimed_twice']}",
            "a lead claimed once is sent once: expected claims = delivered, 0 twice",
            _pf(counts["claims"] == counts["delivered"] and counts["claimed_twice"] == 0),
        ],
    ]


def _pf(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report_memory(run: Run, load: Load, after: Point) -> None:
    """Per sample: the sign-ups of the interval before it, their latency, and the memory."""
    points = [*run.points, after]
    names = list(points[0].mem)
    rows, previous = [], None
    for p in points:
        if previous is None or p.label == "drained":
            window: list[Sample] = []
        else:
            window = [
                s
                for s in load.samples
                if s.kind == "signup" and previous.at <= s.due < min(p.at, run.measured_to)
            ]
        service = [(s.done - s.sent) * 1000 for s in window if s.status]
        bad = sum(1 for s in window if not (s.status and 200 <= s.status < 400))
        rows.append(
            [
                p.label,
                str(len(window)) if window else "-",
                f"{pct(service, 50):.0f}" if service else "-",
                f"{pct(service, 99):.0f}" if service else "-",
                str(bad) if window else "-",
                str(p.delivered),
                *(f"{p.mem[n].sum_mb:.0f}" for n in names),
            ]
        )
        previous = p
    print()
    print(
        "# per sample: sign-ups due since the previous sample, their latency and errors, leads "
        "delivered so far, and resident memory (VmRSS, MB; a web process is its server's "
        "tree: master + worker)"
    )
    head = ["when", "sign-ups", "p50 ms", "p99 ms", "errors", "delivered", *names]
    print(c.table(rows, head))
    start, end = run.points[0].mem, run.points[-1].mem
    growth = []
    for n in names:
        d = end[n].sum_mb - start[n].sum_mb
        share = d / start[n].sum_mb if start[n].sum_mb else 0.0
        growth.append(f"{n} {d:+.0f} MB ({share:+.0%})")
    print("# growth from 'start' (after warm-up) to 'end' (load stopped): " + ", ".join(growth))
    spread = [statistics.pstdev([p.mem[n].sum_mb for p in run.points]) for n in names]
    print(
        "# target: flat (no steady climb from sample to sample); spread (stdev) of the samples: "
        + ", ".join(f"{n} {s:.1f} MB" for n, s in zip(names, spread, strict=True))
    )
