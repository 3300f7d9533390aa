"""Backups (issue 7): `tillit backup` copies the running SQLite database; the copy holds nothing
readable (canaries planted and searched for); `tillit restore` puts it back in another data
directory, and with the same keys what was sealed opens again."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import CANARY_NAME
from tests.e2e.conftest import ON_POSTGRES, Operator, until
from tests.e2e.test_canary import DELIVERED, leaks

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(180),
    pytest.mark.skipif(ON_POSTGRES, reason="PostgreSQL is backed up with pg_dump (it says so)"),
]


@pytest.mark.promise("P16")
def test_a_backup_holds_nothing_readable_and_restores_with_the_same_keys(
    make_operator, visitors, tmp_path
):
    site = make_operator()
    site.add_unreachable_partner()
    site.start_web()
    visitors(site.url).sign_up(DELIVERED.form())
    site.command("worker", "--drain")  # the worker records it: the lead waits for confirmation
    until(
        lambda: site.db.scalar("SELECT count(*) FROM vault_envelope WHERE purpose = 'lead'"),
        20,
        "the lead is sealed",
    )
    backup = tmp_path / "tillit-backup.sqlite3"
    out = site.command("backup", str(backup))  # while the web process runs
    assert "keep the keyring" in out and backup.stat().st_mode & 0o777 == 0o600
    site.stop_all()
    assert leaks(backup.read_bytes(), backup.name) == []  # every canary, in every encoding

    # Another machine: a fresh data directory with the same keys, then the backup put back.
    other = Operator(tmp_path / "restored", None, None, {})
    other.init()
    shutil.copytree(site.data_dir / "keys", other.data_dir / "keys", dirs_exist_ok=True)
    refused = subprocess.run(
        [sys.executable, "-m", "tillit", "restore", str(backup)],
        env=other.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode != 0 and "--yes" in refused.stderr
    other.command("restore", str(backup), "--yes")
    opened = other.command(
        "shell",
        "-c",
        "from tillit.vault.models import Envelope; "
        "print(Envelope.objects.get(purpose='lead').open()['name'].reveal())",
    )
    assert opened.strip().splitlines()[-1] == CANARY_NAME
