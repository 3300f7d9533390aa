"""The end of the fault campaign's load (bench/faults.py): the worker drains what is left.

WORK_LEFT counts what the worker still has to do, each item by one query; `drain` makes due the
retries that wait out a back-off (which stands for waiting) until none is left or the time
allowed has passed.
"""

from __future__ import annotations

import time

from _faults_site import Site, sql

WORK_LEFT = {
    "intakes waiting": "select count(*) from vault_envelope where purpose = 'intake'",
    "deliveries queued": "select count(*) from partners_delivery"
    " where state in ('pending', 'leased')",
    "rights requests open": "select count(*) from rights_rightsrequest"
    " where state in ('received', 'in_progress')",
    "e-mail jobs waiting": "select count(*) from django_tasks_database_dbtaskresult"
    " where status = 'READY'",
    "e-mail jobs running": "select count(*) from django_tasks_database_dbtaskresult"
    " where status = 'RUNNING'",
    # Those retry_failed_mail (worker/jobs.py) will make ready again.
    "e-mail jobs to try again": "select count(*) from django_tasks_database_dbtaskresult"
    " where status = 'FAILED' and exception_class_path = 'tillit.core.mail.MailNotSent'"
    " and strpos(traceback, 'not one plain address') = 0",
}


def drain(site: Site, timeout: float) -> tuple[float, dict[str, int]]:
    """Let the worker finish. Retries waiting out a back-off are made due: that stands for
    waiting (the partner is back, as the worker's own bring-forward would find)."""
    t0 = time.monotonic()
    left: dict[str, int] = {}
    while time.monotonic() - t0 < timeout:
        try:
            sql(
                site.db_url,
                "UPDATE partners_delivery SET next_attempt_at = now()"
                " WHERE state = 'pending' AND next_attempt_at > now()",
            )
            sql(
                site.db_url,
                "UPDATE rights_partnertask SET next_attempt_at = now()"
                " WHERE state in ('waiting', 'pending') AND next_attempt_at > now()",
            )
            # A job a killed worker left running waits out STRANDED_JOB_AGE (15 minutes) at
            # once: no send takes 30 s (the SMTP timeout is 20 s), so it is stranded.
            sql(
                site.db_url,
                "UPDATE django_tasks_database_dbtaskresult"
                " SET started_at = started_at - interval '20 minutes'"
                " WHERE status = 'RUNNING' AND started_at < now() - interval '30 seconds'"
                " AND started_at > now() - interval '20 minutes'",
            )
            # A failed e-mail waits out its retry step (at most an hour) at once; the
            # worker's next retention pass (each minute) makes either ready again.
            sql(
                site.db_url,
                "UPDATE django_tasks_database_dbtaskresult"
                " SET finished_at = finished_at - interval '1 hour'"
                " WHERE status = 'FAILED' AND finished_at > now() - interval '1 hour'",
            )
            left = {k: int(sql(site.db_url, q)[0][0]) for k, q in WORK_LEFT.items()}
        except Exception as error:  # the database may still be starting
            left = {"database": 1, type(error).__name__: 1}
        if not any(left.values()):
            return time.monotonic() - t0, left
        time.sleep(1)
    return -1.0, left
