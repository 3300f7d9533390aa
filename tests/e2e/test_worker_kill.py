"""A worker killed with SIGKILL in the middle of delivering loses nothing, and the partner sees
each lead once: the lease lets another worker take the unfinished batch over, and the partner's
idempotency (the lead_id, with the same body on every attempt) turns a repeat into a no-op.
An e-mail job cut off the same way must not be lost either."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    ON_POSTGRES,
    Inbox,
    partner_count,
    partner_leads,
    seed_leads,
    serving,
    until,
)
from tests.processes import ReferencePartner

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

LEADS = 1000
# Two workers racing need fewer to show it: both claim within the first batches.
RACING_LEADS = 300
# Small batches and few sending threads, so that a kill can land between sending a batch and
# recording its receipts (the window in which a lead reaches the partner twice).
WORKER_ARGS = ("--batch", "20", "--interval", "0.2")
WORKER_ENV = {"TILLIT_DELIVERY_CONCURRENCY": "4"}
# The partner stores each lead and answers 40 ms later, so that sending a batch takes most of
# a worker's step (a batch is recorded in a few statements): a kill at a random moment then
# mostly lands while leads are at the partner and not yet recorded.
ANSWER_DELAY_MS = "40"


@pytest.fixture
def reference(tmp_path: Path) -> Iterator[ReferencePartner]:
    partner = ReferencePartner(
        tmp_path / "partner", extra_env={"PARTNER_ANSWER_DELAY_MS": ANSWER_DELAY_MS}
    )
    partner.start()
    try:
        yield partner
    finally:
        partner.stop()


def expire_leases(site) -> int:
    """A killed worker's leases run for 60 s (partners/delivery.py LEASE) before another worker
    may take its jobs over. Moving their expiry into the past does what waiting would do,
    without making the test wait a minute per kill."""
    past = site.db.ts(datetime.now(UTC) - timedelta(seconds=1))
    return site.db.execute(
        "UPDATE partners_delivery SET lease_expires_at = %s WHERE state = 'leased'", past
    )


def kill(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def assert_each_lead_delivered_once(site, reference, count: int) -> None:
    leads = partner_leads(reference)
    lead_ids = [x["lead_id"] for x in leads]
    assert len(lead_ids) == count, f"the partner holds {len(lead_ids)} leads, not {count}"
    assert len(set(lead_ids)) == count, "the partner holds a lead twice"
    deliveries = dict(site.db.rows("SELECT id, partner_reference FROM partners_delivery"))
    # SQLite keeps UUIDs as 32 hex digits, PostgreSQL as uuid.
    deliveries = {str(k).replace("-", ""): v for k, v in deliveries.items()}
    assert {i.replace("-", "") for i in lead_ids} == set(deliveries)
    # Each delivery holds the receipt of the one lead the partner stored.
    assert {x["lead_id"].replace("-", ""): x["partner_lead_id"] for x in leads} == deliveries
    assert site.db.states() == {"delivered": count}
    assert (
        site.db.scalar("SELECT COUNT(*) FROM vault_envelope WHERE purpose <> 'partner-secret'") == 0
    ), "a lead envelope is left"


@pytest.fixture
def make_queue(make_operator, reference):
    def make(count: int):
        site = make_operator(**WORKER_ENV)
        site.add_reference_partner(reference)
        seed_leads(site, count)
        return site

    return make


@pytest.mark.promise("P17")
@pytest.mark.promise("P16")
def test_killed_workers_lose_nothing_and_deliver_each_lead_once(make_queue, reference):
    """Over 1,000 deliveries, workers are killed with SIGKILL at random moments until the queue
    is empty; every new worker takes over what the dead one had leased."""
    site = make_queue(LEADS)
    seed_ = os.environ.get("TILLIT_TEST_SEED") or str(random.randrange(1_000_000))
    print(f"random kill moments from TILLIT_TEST_SEED={seed_}")
    rng = random.Random(seed_)
    kills = []
    while True:
        name = f"worker-{len(kills)}"
        worker = site.start_worker(name, *WORKER_ARGS)
        # Kill at a random moment once this worker has delivered some (not before it has
        # begun: that would prove nothing), anywhere along the queue.
        target = min(partner_count(reference) + rng.randint(1, LEADS // 4), LEADS)
        until(
            lambda: partner_count(reference) >= target,
            60,
            f"{name} delivers up to {target}",
            every=0.02,
        )
        if target == LEADS:
            break
        kill(worker)
        site.procs.pop(name)
        time.sleep(0.2)  # requests already sent may still be finishing at the partner
        at_partner, recorded = partner_count(reference), site.db.states().get("delivered", 0)
        kills.append((at_partner, at_partner - recorded, expire_leases(site)))
    print("kills (leads at the partner, of them not yet recorded, leases expired):", kills)
    assert len(kills) >= 3, "fewer than three kills: too little tested"
    assert any(k[1] for k in kills), "no kill caught a batch in flight"

    until(lambda: site.db.states() == {"delivered": LEADS}, 90, "every lead is recorded")
    last = site.procs[name]
    site.stop(name)
    assert last.returncode in (0, -signal.SIGTERM)

    assert_each_lead_delivered_once(site, reference, LEADS)


@pytest.mark.skipif(
    not ON_POSTGRES,
    reason="SQLite serialises writers, so there is no race "
    "to lose; SKIP LOCKED claiming is PostgreSQL's",
)
@pytest.mark.promise("P17")
@pytest.mark.promise("P16")
def test_two_workers_racing_over_one_queue_deliver_each_lead_once(make_queue, reference):
    site = make_queue(RACING_LEADS)
    site.start_worker("worker-a", *WORKER_ARGS)
    site.start_worker("worker-b", *WORKER_ARGS)
    # Watch the queue while they work. One worker holds at most two batches (one on its way,
    # the one before it being recorded), so three different leases at the same moment show
    # that both workers were claiming at once, and more than four that one held too many.
    most_at_once = 0

    def all_delivered() -> bool:
        nonlocal most_at_once
        most_at_once = max(
            most_at_once,
            site.db.scalar(
                "SELECT COUNT(DISTINCT lease_token) FROM partners_delivery WHERE state = 'leased'"
            ),
        )
        return site.db.states() == {"delivered": RACING_LEADS}

    until(all_delivered, 90, "every lead is delivered", every=0.02)
    site.stop_all()
    assert most_at_once >= 3, "the two workers never held leases at the same time"
    assert most_at_once <= 4, "a worker held more than two batches at once"
    assert_each_lead_delivered_once(site, reference, RACING_LEADS)


class StallingInbox(Inbox):
    """A mail server that stalls on its first message (and then turns it away), so that a
    worker can be killed while it is inside an e-mail job."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.attempts += 1
        if self.attempts == 1:
            await asyncio.sleep(5)
            return "451 4.3.0 Try again later"
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.promise("P3")
def test_an_email_job_cut_off_by_sigkill_is_sent_later(make_operator, visitors):
    with serving(StallingInbox()) as inbox:
        site = make_operator(smtp_port=inbox.port)
        site.add_unreachable_partner()
        worker = site.start_worker("worker-killed")
        site.start_web()
        visitors(site.url).sign_up(
            {
                "name": "Kari Avbrutt",
                "email": "avbrutt@example.com",
                "country": "NO",
                "phone": "",
                "consent_partner": "on",
            }
        )
        # The worker is sending the confirmation e-mail: kill it there.
        until(lambda: inbox.attempts >= 1, 30, "the worker starts sending the e-mail")
        kill(worker)
        site.procs.pop("worker-killed")
        jobs = "SELECT status FROM django_tasks_database_dbtaskresult"
        assert site.db.rows(jobs) == [("RUNNING",)]
        # Give recovery every chance: the job looks two hours old (as with the delivery leases,
        # this stands in for waiting), the retention rules run, and a new worker starts.
        site.db.execute(
            "UPDATE django_tasks_database_dbtaskresult SET started_at = %s",
            site.db.ts(datetime.now(UTC) - timedelta(hours=2)),
        )
        site.command("prune")
        site.start_worker("worker-after")
        # The person still gets the link (at least once).
        mail = inbox.wait_for("avbrutt@example.com", timeout=20)
        assert "/confirm/" in mail.text
