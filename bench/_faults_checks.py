"""What the fault campaign (bench/faults.py) checks once the worker has drained.

`verify` holds what the load was told (the Tally) against tillit's database and the partner's
own store: every sign-up answered 302 is one person and was sent its link, every confirmation
answered 200 is one lead at the partner and one delivered delivery, no envelope is lost or kept
past delivery, every rights request accepted is recorded and answered, and the audit log
verifies. Each finding is a Check: a name, whether it held, and the detail.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import _common as c
from _faults_drain import WORK_LEFT
from _faults_load import Load, Tally
from _faults_site import Site, sql


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


LOOKUP = """
import json, sys
import django
django.setup()
from tillit.subjects.models import Subject
from tillit.vault.blind import email_index
from tillit.vault.pii import Pii
addresses = json.load(sys.stdin)
index = {email_index(Pii(a)): a for a in addresses}
found = {}
rows = Subject.objects.filter(email_index__in=list(index)).values_list("email_index", "id")
for idx, sid in rows:
    found.setdefault(index[idx], []).append(str(sid))
json.dump(found, sys.stdout)
"""


def subjects_by_address(env: dict[str, str], addresses: list[str]) -> dict[str, list[str]]:
    """Each address's people in tillit's database, found as tillit finds them (blind index)."""
    done = subprocess.run(
        [sys.executable, "-c", LOOKUP],
        input=json.dumps(addresses),
        env={**env, "DJANGO_SETTINGS_MODULE": "tillit.settings"},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(c.REPO),
    )
    if done.returncode:
        raise RuntimeError(f"looking up the sign-ups failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def partner_store(partner_dir: Path) -> tuple[list[tuple], list[tuple]]:
    with sqlite3.connect(f"file:{partner_dir / 'partner.sqlite3'}?mode=ro", uri=True) as conn:
        leads = conn.execute("select lead_id, email, test from reference_partner_lead").fetchall()
        dsr = conn.execute(
            "select subject_request_id, request_type, status from reference_partner_dsrrequest"
        ).fetchall()
    return leads, dsr


def uuid_text(value: object) -> str:
    return str(value).replace("-", "").lower()


def verify(site: Site, load: Load) -> dict:
    """What the load was told, against tillit's database and the partner's own store."""
    tally = load.tally
    load.mailbox.scan()  # the e-mails the drain sent
    unmailed = sorted(tally.accepted - load.mailbox.linked)
    db = site.db_url
    # tillit's side: the people, their deliveries, the rights requests.
    addresses = sorted(tally.accepted | tally.confirmed | tally.confirm_unsure)
    people = subjects_by_address(site.env, addresses)
    missing = sorted(a for a in tally.accepted if a not in people)
    checks = people_checks(tally, people, missing, unmailed)
    # The partner's side, from its own store.
    leads, dsr = partner_store(site.partner_dir)  # type: ignore[attr-defined]
    lead_checks, found = delivery_checks(db, tally, people, leads)
    checks += lead_checks
    checks.append(envelope_check(db))
    rights_check, rights_lost, rights_open = rights_request_check(db, tally, dsr)
    checks.append(rights_check)
    audit_check, audit_text = audit_log_check(site)
    checks.append(audit_check)
    figures = {
        "signups_sent": tally.signups_sent,
        "accepted": len(tally.accepted),
        "refused": dict(tally.refused),
        "signup_retries": tally.retries,
        "confirmed": len(tally.confirmed),
        "confirm_unsure": len(tally.confirm_unsure),
        "confirm_failed": dict(tally.confirm_failed),
        "delivered": found["delivered"],
        "duplicated": found["duplicated"],
        "lost": len(missing) + found["not_delivered"] + len(rights_lost),
        "rights_accepted": len(tally.rights),
        "rights_completed": len(tally.rights) - len(rights_open),
        "rights_failed": dict(tally.rights_failed),
        "deliveries": dict(sql(db, "select state, count(*) from partners_delivery group by 1")),
        "accepted_never_sent_a_link": len(unmailed),
        "email_jobs_failed": failed_email_jobs(db),
        "email_jobs": dict(
            sql(db, "select status, count(*) from django_tasks_database_dbtaskresult group by 1")
        ),
        "audit": audit_text[0] if audit_text else "",
    }
    return {"checks": checks, "figures": figures}


def people_checks(
    tally: Tally, people: dict[str, list[str]], missing: list[str], unmailed: list[str]
) -> list[Check]:
    """Each sign-up answered 302 is one person, and was sent its confirmation link."""
    twice_here = sorted(a for a, ids in people.items() if len(ids) > 1)
    return [
        Check(
            "every sign-up answered 302 is a person in tillit's database",
            not missing,
            f"{len(tally.accepted)} accepted, {len(missing)} missing"
            + (f" (e.g. {missing[:3]})" if missing else ""),
        ),
        Check(
            "every accepted sign-up was sent its confirmation link",
            not unmailed,
            f"{len(unmailed)} never sent one (failed e-mail jobs are tried again: "
            "retry_failed_mail)",
        ),
        Check(
            "no person recorded twice",
            not twice_here,
            f"{len(twice_here)} addresses with more than one person",
        ),
    ]


def delivery_checks(
    db: str, tally: Tally, people: dict[str, list[str]], leads: list[tuple]
) -> tuple[list[Check], dict[str, int]]:
    """Each confirmation answered 200 is one lead at the partner and one delivered delivery;
    with the leads delivered, duplicated and not delivered, counted for the figures."""
    deliveries: dict[str, list[str]] = {}
    for subject, state in sql(db, "select subject_id, state from partners_delivery"):
        deliveries.setdefault(uuid_text(subject), []).append(state)
    delivered_here = {
        a
        for a, ids in people.items()
        if any("delivered" in deliveries.get(uuid_text(i), []) for i in ids)
    }
    ours = [(lead_id, address) for lead_id, address, test in leads if not test]
    at_partner = Counter(address for _, address in ours)
    by_lead_id = Counter(uuid_text(lead_id) for lead_id, _ in ours)
    duplicated = sorted(a for a, n in at_partner.items() if n > 1)
    duplicated_ids = sorted(i for i, n in by_lead_id.items() if n > 1)
    not_delivered = sorted(a for a in tally.confirmed if at_partner[a] == 0)
    not_recorded = sorted(a for a in tally.confirmed if a not in delivered_here)
    strangers = sorted(a for a in at_partner if a not in people)
    checks = [
        Check(
            "every confirmation answered 200 is delivered: at the partner and recorded",
            not not_delivered and not not_recorded,
            f"{len(tally.confirmed)} confirmed; {len(not_delivered)} not at the partner, "
            f"{len(not_recorded)} not recorded as delivered",
        ),
        Check(
            "no lead at the partner twice (by address, by lead id)",
            not duplicated and not duplicated_ids,
            f"{len(ours)} leads at the partner; {len(duplicated)} addresses twice, "
            f"{len(duplicated_ids)} lead ids twice",
        ),
        Check(
            "the partner holds no lead of a person tillit does not know",
            not strangers,
            f"{len(strangers)}",
        ),
    ]
    found = {
        "delivered": len(ours),
        "duplicated": len(duplicated) + len(duplicated_ids),
        "not_delivered": len(not_delivered),
    }
    return checks, found


def envelope_check(db: str) -> Check:
    """Envelopes: none lost while its lead waits, none kept after its lead is delivered."""
    envelope_lost = sql(db, (
        "select count(*) from partners_delivery d where d.state in ('waiting', 'pending', 'leased')"
        " and not exists (select 1 from vault_envelope e where e.id = d.envelope_id)"
    ))[0][0]  # fmt: skip
    envelope_kept = sql(db, (
        "select count(*) from partners_delivery d where d.state in ('delivered', 'failed', "
        "'cancelled') and d.envelope_id is not null"
    ))[0][0]  # fmt: skip
    intakes = sql(db, WORK_LEFT["intakes waiting"])[0][0]
    envelopes = dict(sql(db, "select purpose, count(*) from vault_envelope group by purpose"))
    return Check(
        "no envelope lost or kept: each waiting lead sealed, each delivered one shredded",
        envelope_lost == 0 and envelope_kept == 0 and intakes == 0,
        f"{envelope_lost} waiting leads without their envelope, {envelope_kept} finished ones "
        f"still holding one, {intakes} intakes not recorded; envelopes left: {envelopes}",
    )


def rights_request_check(db: str, tally: Tally, dsr: list[tuple]) -> tuple[Check, list, list]:
    """Each rights request accepted is recorded and answered; with the references not recorded
    and those not completed."""
    requests = {
        f"R-{uuid_text(i)[:4].upper()}-{uuid_text(i)[4:8].upper()}": (state, kind)
        for i, state, kind in sql(db, "select id, state, kind from rights_rightsrequest")
    }
    rights_lost = [r for r, _, _ in tally.rights if r not in requests]
    rights_open = [r for r, _, _ in tally.rights if requests.get(r, ("",))[0] != "completed"]
    tasks = Counter(state for (state,) in sql(db, "select state from rights_partnertask"))
    task_ids = {uuid_text(i) for (i,) in sql(db, "select id from rights_partnertask")}
    dsr_ids = Counter(uuid_text(i) for i, _, _ in dsr)
    dsr_strangers = [i for i in dsr_ids if i not in task_ids]
    check = Check(
        "every rights request accepted is recorded and answered",
        not rights_lost and not rights_open,
        f"{len(tally.rights)} accepted, {len(rights_lost)} not recorded, "
        f"{len(rights_open)} not completed; partner tasks {dict(tasks)}; "
        f"{len(dsr)} at the partner ({len(dsr_strangers)} unknown to tillit)",
    )
    return check, rights_lost, rights_open


def audit_log_check(site: Site) -> tuple[Check, list[str]]:
    """`tillit audit verify` over the site's log; with the lines it printed."""
    audit = subprocess.run(
        [*c.TILLIT, "audit", "verify"], env=site.env, capture_output=True, text=True,
        timeout=300, cwd=str(c.REPO),
    )  # fmt: skip
    audit_text = (audit.stdout + audit.stderr).strip().splitlines()
    check = Check(
        "the audit log verifies (`tillit audit verify`)",
        audit.returncode == 0,
        audit_text[0] if audit_text else f"exit {audit.returncode}",
    )
    return check, audit_text


def failed_email_jobs(db: str) -> dict[str, int]:
    """The failed e-mail jobs, by task and the last line of their traceback."""
    return dict(
        Counter(
            f"{path.rsplit('.', 1)[-1]}: {(trace.strip().splitlines() or [''])[-1]}"
            for path, trace in sql(
                db,
                "select task_path, traceback from django_tasks_database_dbtaskresult"
                " where status = 'FAILED'",
            )
        )
    )
