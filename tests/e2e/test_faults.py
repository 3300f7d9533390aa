"""A minute of the fault campaign (bench/faults.py): two web processes, a worker and the
reference partner on a PostgreSQL server of the campaign's own, under sign-ups, confirmations
and rights requests, while processes are killed, PostgreSQL restarts, the partner is slow,
answers 500 or drops connections, and the data disks go read-only and full. What a user would
check afterwards: nothing accepted is lost, no lead reaches the partner twice, the audit log
verifies, and no canary is left at rest."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(330)]

REPO = Path(__file__).resolve().parents[2]
SEED = "20261207"
KILLS = {"kill_web", "kill_worker", "kill_partner"}
PARTNER = {"partner_slow", "partner_500", "partner_drop"}
DISK = {"disk_readonly", "disk_full", "pg_disk_full"}


@pytest.fixture(scope="module")
def campaign() -> dict:
    if os.environ.get("DATABASE_URL"):
        pytest.skip("the campaign brings a PostgreSQL server of its own: the SQLite run has it")
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("needs root: the campaign mounts its disks and runs PostgreSQL as postgres")
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        pytest.skip("needs PostgreSQL's server binaries (.ci/run installs the postgresql package)")
    done = subprocess.run(
        [sys.executable, "bench/faults.py", "--seconds", "60", "--json", "--seed", SEED],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"no report (exit {done.returncode}):\n{done.stderr[-5000:]}")
    report["stderr"], report["returncode"] = done.stderr, done.returncode
    return report


@pytest.mark.promise("P3")
@pytest.mark.promise("P9")
@pytest.mark.promise("P16")
@pytest.mark.promise("P17")
@pytest.mark.promise("P25")
def test_a_minute_of_faults_loses_nothing_and_delivers_each_lead_once(campaign):
    failed = [f"{k['name']}: {k['detail']}" for k in campaign["checks"] if not k["ok"]]
    assert not failed, "checks failed:\n" + "\n".join(failed) + "\n" + campaign["stderr"][-4000:]
    assert campaign["returncode"] == 0
    assert campaign["lost"] == 0
    assert campaign["duplicated"] == 0
    # It was a real run: people signed up, confirmed, got their lead delivered, asked. (At 4
    # a second, a minute offers 240; a machine busy with other tests answers fewer.)
    assert campaign["accepted"] >= 20
    assert campaign["confirmed"] >= 10
    assert campaign["delivered"] >= campaign["confirmed"]
    # A request waits for its code e-mail; on a busy machine a minute holds only a few.
    assert campaign["rights_accepted"] >= 2
    assert campaign["rights_completed"] == campaign["rights_accepted"]
    checks = {k["name"]: k["ok"] for k in campaign["checks"]}
    assert checks["the audit log verifies (`tillit audit verify`)"]
    assert checks["no canary at rest on the operator's side"]
    assert checks["every accepted sign-up was sent its confirmation link"]
    assert campaign["accepted_never_sent_a_link"] == 0


def test_faults_of_every_family_landed(campaign):
    injected = {kind for kind, n in campaign["faults"].items() if n}
    assert len(injected) >= 6, campaign["faults"]
    assert injected & KILLS and "pg_restart" in injected, campaign["faults"]
    assert injected & PARTNER, campaign["faults"]
    # A container may refuse the mounts (the campaign then says why, and skips those faults).
    if DISK & set(campaign["faults"]):
        assert injected & DISK, campaign["faults"]
    # Whatever was killed came back, and nothing died that was not killed.
    assert sum(campaign["restarts"].values()) >= len(injected & KILLS)
