"""What bench/drain.py --outage prints: the backlog the partner found, its drain, the checks.

`report_outage` prints the seeding rate, how long the partner was down, the failed attempts and
the backlog, the time from the partner answering to the last delivery, what the worker and the
partner used, and checks that the partner stored each lead once, the claims made after it came
back, and that no lead envelope is left; it says whether the run passed.
"""

from __future__ import annotations

import argparse
import time
import uuid

import _common as c
from _drain_outage import Backlog, Recovery
from _drain_setup import Setup


def report_outage(
    args: argparse.Namespace, s: Setup, b: Backlog, r: Recovery, total_started: float
) -> bool:
    """Print the figures and checks; True when every lead was delivered, once, and the partner
    holds each."""
    from django.db import connection

    from tillit.audit.models import AuditEvent
    from tillit.partners.models import Delivery
    from tillit.vault.models import Envelope

    n = args.leads
    delivered_ids = {
        uuid.UUID(str(i))
        for i in Delivery.objects.filter(state="delivered").values_list("id", flat=True)
    }
    lead_envelopes = Envelope.objects.filter(purpose="lead").count()
    audit_delivered = AuditEvent.objects.filter(action="lead.delivered").count()
    connection.close()
    stored = r.partner_ids
    once = len(stored) == len(set(stored)) == n and set(stored) == delivered_ids
    complete = r.done >= n
    rows = [
        *backlog_rows(args, s, b, r),
        *recovery_rows(n, b, r, complete),
        *outage_check_rows(n, b, r, delivered_ids, once, (lead_envelopes, audit_delivered)),
    ]
    print()
    print(c.table(rows, ["figure", "value", "detail", "check"]))
    print_outage_notes(args, s, r, total_started)
    return complete and once and r.partner_count == n


def backlog_rows(args: argparse.Namespace, s: Setup, b: Backlog, r: Recovery) -> list[list[str]]:
    """The seeding, the outage, and the backlog the partner found when it came back."""
    n = args.leads
    hist = ", ".join(f"{k}x:{v}" for k, v in sorted(b.attempts.items()))
    return [
        [
            f"seeding while the worker failed ({args.seed})",
            f"{n / s.seed_seconds:.0f} leads/s",
            f"{s.seed_seconds:.1f}s for {n}",
            "",
        ],
        [
            "outage: worker start -> partner answering",
            f"{r.down_seconds:.0f}s",
            f"--outage {args.outage:g}s after seeding; the partner took {r.start_seconds:.1f}s "
            "to start",
            "",
        ],
        [
            "failed attempts during the outage",
            str(b.claims),
            "errors: " + ", ".join(f"{k} x{v}" for k, v in b.errors.items()),
            "",
        ],
        [
            "backlog when the partner came back",
            ", ".join(f"{k}={v}" for k, v in sorted(b.states.items())),
            f"due at once {b.due_now}; the latest retry {b.latest_retry:.0f}s later",
            "",
        ],
        ["leads by attempts so far", hist, "", ""],
    ]


def recovery_rows(n: int, b: Backlog, r: Recovery, complete: bool) -> list[list[str]]:
    """The drain after the partner came back, and what the worker and partner used."""
    return [
        [
            "drain: partner up -> last delivery",
            f"{r.last_delivery:.1f}s"
            if complete
            else f"NOT DONE after {r.seen_done:.0f}s ({r.done}/{n})",
            f"the first lead taken brings the rest forward (latest retry {b.latest_retry:.0f}s)",
            "",
        ],
        [
            "drain: leads/s (partner up -> last delivery)",
            f"{n / r.last_delivery:.0f} leads/s" if complete else "-",
            ">= 300 (SQLite, bench/drain.py without an outage)",
            "",
        ],
        [
            "worker / partner CPU during the drain (cores)",
            f"{r.worker_cpu / r.seen_done:.2f} / {r.partner_cpu / r.seen_done:.2f}",
            f"{r.worker_cpu:.0f} / {r.partner_cpu:.0f} CPU-s",
            "",
        ],
        [
            "worker / partner peak memory (VmHWM)",
            f"{r.worker_mem.max_mb:.0f} / {r.partner_mem.max_mb:.0f} MB",
            f"partner {r.partner_mem}",
            "",
        ],
    ]


def outage_check_rows(
    n: int,
    b: Backlog,
    r: Recovery,
    delivered_ids: set[uuid.UUID],
    once: bool,
    left: tuple[int, int],
) -> list[list[str]]:
    """What the partner holds, the claims made after it came back, and what is left in tillit's
    database (`left`: the lead envelopes and the lead.delivered audit events), with the checks."""
    lead_envelopes, audit_delivered = left
    end = r.end or b
    stored = r.partner_ids
    claims_after = end.claims - b.claims
    leased = b.states.get("leased", 0)
    return [
        [
            "partner /leads.json count",
            str(r.partner_count),
            f"expected {n}",
            "PASS" if r.partner_count == n else "FAIL",
        ],
        [
            "partner's stored lead_ids: rows / distinct",
            f"{len(stored)} / {len(set(stored))}",
            f"equal to the {len(delivered_ids)} delivered ids: "
            f"{'yes' if set(stored) == delivered_ids else 'NO'}",
            "PASS" if once else "FAIL",
        ],
        [
            "claims after the partner came back",
            str(claims_after),
            f"{n - leased}..{n} if each lead was sent once ({leased} were leased at the "
            "moment it came back); more = retries or repeats",
            "PASS" if n - leased <= claims_after <= n else "CHECK",
        ],
        [
            "deliveries by state at the end",
            ", ".join(f"{k}={v}" for k, v in sorted(end.states.items())),
            "",
            "",
        ],
        [
            "lead envelopes left / audit lead.delivered",
            f"{lead_envelopes} / {audit_delivered}",
            f"expected 0 / {n}",
            "PASS" if lead_envelopes == 0 and audit_delivered == n else "FAIL",
        ],
    ]


def print_outage_notes(
    args: argparse.Namespace, s: Setup, r: Recovery, total_started: float
) -> None:
    """The progress after the partner came back, the backends, the log problems, the time."""
    step = max(1, len(r.samples) // 12)
    print()
    print(
        "# progress after the partner came back (seconds: delivered): "
        + " ".join(f"{t:.0f}:{d}" for t, d, _ in [*r.samples[::step], *r.samples[-1:]])
    )
    if s.db_name:
        print(
            f"# most PostgreSQL backends on the bench database at once: {r.peak_backends}; "
            f"readings refused by a full server (too many clients): {r.server_full}"
        )
    for line in r.logs:
        print(f"# {line}")
    print(
        f"# total time {time.monotonic() - total_started:.0f}s; logs in {s.logdir}"
        + ("" if args.keep else " (deleted at exit; use --keep)")
    )
