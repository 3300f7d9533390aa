"""The worker's steps: deliveries, rights requests to partners, e-mail jobs, retention, and the
consent log's integration, checkpoints and witnesses, each callable from tests."""

from __future__ import annotations

import logging
import os
import socket
import time

import httpx
from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    connections,
)
from django_tasks_db.management.commands.db_worker import Worker as TaskWorker

from tillit.audit import sequencer
from tillit.audit import witnesses as log_witnesses
from tillit.offers import sending as offers
from tillit.partners.delivery import Pipeline
from tillit.partners.posting import Poster
from tillit.rights import fanout
from tillit.subjects import intake
from tillit.worker.retention import run_all

log = logging.getLogger("tillit.worker")
RETENTION_EVERY_SECONDS = 60
MAX_PAUSE_SECONDS = 10.0


class Loop:
    def __init__(self, *, interval: float = 0.5, batch: int = 64) -> None:
        self.interval = interval
        self.batch = batch
        self.running = True
        self.client = httpx.Client(http2=False, limits=httpx.Limits(max_keepalive_connections=16))
        # Leads go through httpcore's pool alone (partners/posting.py): the hottest requests.
        self.poster = Poster()
        self.deliveries = Pipeline(self.poster, batch)
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}"[:64]
        self.last_retention = 0.0

    def process_one(self) -> int:
        """One step: new sign-ups, a batch of deliveries sent (and the last step's recorded),
        the ready e-mail jobs, retention when due."""
        close_old_connections()
        done = intake.process()
        done += self.deliveries.step()
        done += fanout.step(self.client)
        done += offers.step(self.client)
        done += self.run_tasks()
        if time.monotonic() - self.last_retention >= RETENTION_EVERY_SECONDS:
            self.last_retention = time.monotonic()
            results = run_all()
            if any(results.values()):
                log.info("retention %s", " ".join(f"{k}={v}" for k, v in results.items()))
        # Last: the events this step's work recorded are integrated and signed for at once.
        done += self.log_step()
        return done

    def log_step(self) -> int:
        """The consent log's turn. A failure here (a damaged tree, a witness's bad answer) is
        logged and leaves the events waiting; it stops none of the worker's other work."""
        try:
            return sequencer.step() + log_witnesses.step(self.client)
        except (OperationalError, InterfaceError):
            raise  # the database is away: the loop waits for it, as for any other step
        except Exception:
            log.exception("consent log step failed; its events wait for the next step")
            return 0

    def run_tasks(self, max_tasks: int = 20) -> int:
        worker = TaskWorker(
            queue_names=["*"],
            interval=0,
            batch=True,
            backend_name="default",
            startup_delay=False,
            max_tasks=max_tasks,
            worker_id=self.worker_id,
            excluded_queue_names=[],
        )
        worker.run()
        return worker._run_tasks

    def drain(self, timeout: float = 30.0) -> None:
        """Run steps until nothing is left to do (tests and `tillit worker --drain`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process_one():
            pass
        self.deliveries.flush()  # what is still on its way, when the time ran out
        # What the last steps recorded gets its checkpoint now, not a few seconds later.
        self.log_step()
        if sequencer.sign_now():
            log_witnesses.step(self.client)

    def forever(self) -> None:
        log.info("worker %s started", self.worker_id)
        failures = 0
        while self.running:
            try:
                done = self.process_one()
                failures = 0
            except DatabaseError as error:
                # PostgreSQL restarting, a full disk: whatever was claimed stays leased and is
                # taken over when the lease runs out, so waiting loses nothing.
                failures += 1
                pause = min(self.interval * 2**failures, MAX_PAUSE_SECONDS)
                log.warning(
                    "database unavailable (%s); trying again in %.1f s", type(error).__name__, pause
                )
                connections.close_all()
                self._sleep(pause)
                continue
            if not done:
                self._sleep(self.interval)
        self.close()
        log.info("worker %s stopped", self.worker_id)

    def close(self) -> None:
        """Record the deliveries in flight (and integrate their events into the log), then let
        go of the connections."""
        try:
            self.deliveries.close()
            self.log_step()
        except DatabaseError as error:
            log.warning(
                "the last deliveries were not recorded (%s); their leases run out and they are "
                "sent again",
                type(error).__name__,
            )
        finally:
            self.client.close()
            self.poster.close()

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self.running and time.monotonic() < deadline:
            time.sleep(min(0.2, seconds))
