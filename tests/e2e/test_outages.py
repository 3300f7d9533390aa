"""Faults survived, with real processes on loopback: a partner down for hours and then back, a
partner down past the maximum age, PostgreSQL restarted under load, a full disk under SQLite.
What was accepted is never lost and never half-kept; what cannot be accepted is refused with a
503 that says when to try again."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import (
    ON_POSTGRES,
    Operator,
    csrf_token,
    partner_leads,
    seed_leads,
    until,
)
from tests.processes import ReferencePartner, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

LEADS = 120
METRICS_TOKEN = "metrics-token-for-tests"  # noqa: S105


def metric(site: Operator, name: str, labels: str) -> float:
    text = httpx.get(
        site.url + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10
    ).text
    for line in text.splitlines():
        if line.startswith(f"tillit_{name}{{{labels}}} "):
            return float(line.split()[-1])
    return 0.0


def assert_no_lead_is_left_sealed(site: Operator) -> None:
    left = site.db.scalar("SELECT COUNT(*) FROM vault_envelope WHERE purpose = 'lead'")
    assert left == 0, f"{left} lead envelopes are still kept"


@pytest.mark.skipif(not ON_POSTGRES, reason="run once, on the production database")
@pytest.mark.promise("P17")
@pytest.mark.promise("P16")
def test_a_partner_down_for_hours_gets_every_lead_once_when_it_is_back(make_operator, tmp_path):
    # The partner's address is known, but nothing answers there yet.
    partner = ReferencePartner(tmp_path / "partner", port=free_port())
    site = make_operator(TILLIT_METRICS_TOKEN=METRICS_TOKEN)
    site.add_reference_partner(partner)
    seed_leads(site, LEADS)
    site.start_worker("worker", "--interval", "0.2")
    site.start_web()

    # The worker tries each lead, fails and schedules a retry further off each time.
    # (An attempt is counted when the lead is leased, and done when it is pending again.)
    tried = (
        "SELECT COUNT(*) FROM partners_delivery"
        " WHERE attempts >= %s AND last_error <> '' AND state = 'pending'"
    )
    until(lambda: site.db.scalar(tried, 1) == LEADS, 60, "every lead is tried once")
    first_wait = site.db.scalar("SELECT MIN(next_attempt_at) FROM partners_delivery")
    # Hours pass (the backoff is capped at one hour; each retry falls due and fails).
    for attempt in (2, 3, 4):
        site.db.execute(
            "UPDATE partners_delivery SET next_attempt_at = %s WHERE state = 'pending'",
            site.db.ts(datetime.now(UTC) - timedelta(seconds=1)),
        )
        until(lambda a=attempt: site.db.scalar(tried, a) == LEADS, 60, f"attempt {attempt}")
    assert site.db.scalar("SELECT MIN(next_attempt_at) FROM partners_delivery") > first_wait
    errors = {e for (e,) in site.db.rows("SELECT DISTINCT last_error FROM partners_delivery")}
    assert all(e.startswith("network:") for e in errors), errors
    # The outage has lasted five hours: longer than any retry step, shorter than the maximum
    # age (72 hours), so the leads are still waiting, sealed.
    site.db.execute(
        "UPDATE partners_delivery SET released_at = %s",
        site.db.ts(datetime.now(UTC) - timedelta(hours=5)),
    )
    assert site.db.states() == {"pending": LEADS}
    assert metric(site, "queue_depth", 'queue="deliveries"') == LEADS
    assert httpx.get(site.url + "/healthz/ready", timeout=10).status_code == 503

    # The partner is back; the next retry falls due.
    partner.start()
    try:
        site.db.execute(
            "UPDATE partners_delivery SET next_attempt_at = %s",
            site.db.ts(datetime.now(UTC)),
        )
        until(lambda: site.db.states() == {"delivered": LEADS}, 90, "every lead is delivered")
        leads = partner_leads(partner)
        assert len(leads) == LEADS
        assert len({lead["lead_id"] for lead in leads}) == LEADS, "a lead arrived twice"
        assert_no_lead_is_left_sealed(site)
        assert httpx.get(site.url + "/healthz/ready", timeout=10).status_code == 200
    finally:
        partner.stop()


@pytest.mark.skipif(ON_POSTGRES, reason="run once: the rule is the same on either database")
@pytest.mark.promise("P16")
@pytest.mark.promise("P9")
def test_a_partner_down_past_the_maximum_age_leaves_cases_and_nothing_readable(make_operator):
    site = make_operator(TILLIT_DELIVERY_MAX_AGE_HOURS="1", TILLIT_METRICS_TOKEN=METRICS_TOKEN)
    site.add_unreachable_partner()
    seed_leads(site, LEADS)
    site.start_worker("worker", "--interval", "0.2")
    site.start_web()
    until(
        lambda: (
            site.db.scalar("SELECT COUNT(*) FROM partners_delivery WHERE last_error <> ''") == LEADS
        ),
        60,
        "every lead is tried",
    )
    # Two hours pass; the maximum age here is one.
    past = site.db.ts(datetime.now(UTC) - timedelta(hours=2))
    site.db.execute(
        "UPDATE partners_delivery SET released_at = %s, next_attempt_at = %s", past, past
    )
    until(lambda: site.db.states() == {"failed": LEADS}, 60, "every lead is given up")

    # Nothing readable is left: no lead envelope, no reference to one.
    assert_no_lead_is_left_sealed(site)
    assert (
        site.db.scalar("SELECT COUNT(*) FROM partners_delivery WHERE envelope_id IS NOT NULL") == 0
    )
    # The cases stay visible: each failed delivery with its person's pseudonym and the last
    # error, counted in the metrics the operator watches.
    cases = site.db.rows("SELECT subject_id, last_error FROM partners_delivery")
    assert all(subject and error.startswith("network:") for subject, error in cases)
    assert metric(site, "deliveries", 'state="failed"') == LEADS


# --- PostgreSQL restarted under load -------------------------------------------------------


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class Cluster:
    """A PostgreSQL server of the test's own (initdb in a temporary directory, its own port),
    so that it can be stopped and started without touching anyone else's."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="tillit-pg-"))
        shutil.chown(self.root, "postgres")
        self.data = self.root / "data"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def init(self) -> None:
        self._as_postgres(
            str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
            "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options,
            "-l", str(self.root / "server.log"), "-w", "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._as_postgres(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"
        )

    def remove(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def own_postgres() -> Iterator[Cluster]:
    bindir = _postgres_bin()
    if os.geteuid() != 0 or bindir is None or shutil.which("runuser") is None:
        pytest.skip("needs root, runuser and PostgreSQL's server binaries to run a server")
    cluster = Cluster(bindir)
    cluster.init()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.remove()


class Load:
    """One browser signing up new people back to back, recording what each answer was."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=20, follow_redirects=False)
        self.token = csrf_token(self.http.get("/").text)
        self.answers: list[tuple[str, int, str | None, str]] = []
        self.running = True
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        i = 0
        while self.running:
            address = f"last-{i}@example.com"
            fields = {"name": f"Last Person {i}", "email": address, "country": "NO",
                      "consent_partner": "on", "csrfmiddlewaretoken": self.token}  # fmt: skip
            answer = self.http.post("/", data=fields)
            self.answers.append(
                (address, answer.status_code, answer.headers.get("Retry-After"), answer.text)
            )
            i += 1

    def accepted(self) -> list[str]:
        return [a for a, status, _, _ in self.answers if status == 302]

    def refused(self) -> list[tuple[str, int, str | None, str]]:
        return [x for x in self.answers if x[1] != 302]


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL's outage (the SQLite run has its own)")
@pytest.mark.promise("P3")
@pytest.mark.promise("P16")
def test_postgresql_restarted_under_load_loses_no_accepted_sign_up(tmp_path, smtp):
    with own_postgres() as cluster:
        site = Operator(tmp_path / "operator", cluster.url, smtp.port, {})
        try:
            site.init()
            site.add_unreachable_partner()
            site.start_web()
            worker = site.start_worker("worker", "--interval", "0.2")
            worker_log = site.logs / "worker.log"
            until(lambda: " started" in worker_log.read_text(), 60, "the worker starts")
            load = Load(site.url)
            load.thread.start()
            until(lambda: len(load.accepted()) >= 20, 60, "sign-ups are accepted")

            cluster.stop()
            until(lambda: len(load.refused()) >= 5, 30, "sign-ups are refused during the outage")
            ready = httpx.get(site.url + "/healthz/ready", timeout=10)
            assert ready.status_code == 503 and ready.json()["checks"]["database"].startswith(
                "failing"
            )
            before_restart = len(load.accepted())
            time.sleep(1)
            cluster.start()
            until(
                lambda: len(load.accepted()) >= before_restart + 20,
                60,
                "sign-ups are accepted again",
            )
            load.running = False
            load.thread.join(30)

            refused = load.refused()
            assert {status for _, status, _, _ in refused} == {503}, "not every refusal was a 503"
            assert all(retry == "10" for _, _, retry, _ in refused), "a 503 without Retry-After"
            assert all("Vi kan ikke lagre noe akkurat nå" in text for *_, text in refused)
            accepted = load.accepted()
            # Every accepted sign-up is kept, whole: sealed at once, then recorded by the worker
            # (which lived through it, and may still be waiting out its back-off) as the
            # person, their lead and its delivery job, and their confirmation e-mail.
            until(
                lambda: (
                    not site.db.scalar(
                        "SELECT COUNT(*) FROM vault_envelope WHERE purpose = 'intake'"
                    )
                ),
                60,
                "the worker records every accepted sign-up",
            )
            assert site.db.scalar("SELECT COUNT(*) FROM subjects_subject") == len(accepted)
            assert site.db.scalar("SELECT COUNT(*) FROM partners_delivery") == len(accepted)
            for address in accepted:
                smtp.wait_for(address, timeout=60)
            assert worker.poll() is None, "the worker died with the database"
            assert "database unavailable" in worker_log.read_text()
            assert httpx.get(site.url + "/healthz/ready", timeout=10).status_code == 200
        finally:
            site.stop_all()


# --- A full disk under SQLite ---------------------------------------------------------------


@contextmanager
def small_disk(size: str) -> Iterator[Path]:
    """A filesystem of `size` of the test's own (tmpfs), to be filled up."""
    where = Path(tempfile.mkdtemp(prefix="tillit-disk-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        where.rmdir()
        pytest.skip("needs to mount a small filesystem (root)")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
        where.rmdir()


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with open(filler, "wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError:
            pass
    return filler


def sign_up(http: httpx.Client, token: str, i: int) -> httpx.Response:
    fields = {"name": f"Full Disk {i}", "email": f"full-{i}@example.com", "country": "NO",
              "consent_partner": "on", "csrfmiddlewaretoken": token}  # fmt: skip
    return http.post("/", data=fields)


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite's own file on a full disk")
@pytest.mark.promise("P3")
@pytest.mark.promise("P16")
def test_a_full_disk_gives_a_clear_503_and_no_half_write(tmp_path, smtp):
    with small_disk("24m") as disk:
        root = tmp_path / "operator"
        root.mkdir()
        (root / "data").symlink_to(disk)
        site = Operator(root, None, smtp.port, {})
        try:
            site.init()
            site.add_unreachable_partner()
            site.start_web()
            worker = site.start_worker("worker", "--interval", "0.2")
            http = httpx.Client(base_url=site.url, timeout=20, follow_redirects=False)
            token = csrf_token(http.get("/").text)
            before = [sign_up(http, token, i).status_code for i in range(3)]
            assert before == [302] * 3
            until(lambda: all(smtp.to(f"full-{i}@example.com") for i in range(3)), 30, "mails")

            # The write-ahead log is emptied into the database, then the disk fills up.
            site.db.rows("PRAGMA wal_checkpoint(TRUNCATE)")
            filler = fill(disk)
            refused = [sign_up(http, token, i) for i in range(3, 8)]
            assert [r.status_code for r in refused] == [503] * 5
            assert all(r.headers["Retry-After"] == "10" for r in refused)
            assert all("Vi kan ikke lagre noe akkurat nå" in r.text for r in refused)

            # Space again: sign-ups are accepted, the worker carries on.
            filler.unlink()
            after = [sign_up(http, token, i).status_code for i in range(8, 11)]
            assert after == [302] * 3
            kept = [*range(3), *range(8, 11)]
            for i in kept:
                smtp.wait_for(f"full-{i}@example.com", timeout=30)
            assert worker.poll() is None, "the worker died with the disk"
            http.close()
        finally:
            site.stop_all()
        # Whole sign-ups only: each kept person has their lead, delivery, consent and event.
        assert site.db.rows("PRAGMA integrity_check") == [("ok",)]
        counts = {
            table: site.db.scalar(f"SELECT COUNT(*) FROM {table}")  # noqa: S608
            for table in ("subjects_subject", "partners_delivery")
        }
        assert counts == {"subjects_subject": 6, "partners_delivery": 6}
        assert site.db.scalar("SELECT COUNT(*) FROM vault_envelope WHERE purpose = 'lead'") == 6
        registered = "SELECT COUNT(*) FROM audit_auditevent WHERE action = 'subject.registered'"
        assert site.db.scalar(registered) == 6
        assert not any(smtp.to(f"full-{i}@example.com") for i in range(3, 8))
