"""A database made by the release before the Merkle log (tests/data/release-0.1.0) upgrades with
every event kept, in its order, and the old chain's head committed in the new log."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

RELEASE = Path(__file__).parent / "data" / "release-0.1.0"
pytestmark = [pytest.mark.promise("P24")]


def _old_chain(rows: list[tuple]) -> tuple[str, list[str]]:
    """The old release's head hash, recomputed here from its rows (its algorithm, restated)."""
    prev = "0" * 64
    for seq, at, action, actor, target, data, _prev, stored in rows:
        when = at if isinstance(at, dt.datetime) else dt.datetime.fromisoformat(at)
        body = json.dumps(
            {
                "seq": seq,
                "at": when.replace(tzinfo=when.tzinfo or dt.UTC).isoformat(),
                "action": action,
                "actor": actor,
                "target": target,
                "data": json.loads(data) if isinstance(data, str) else data,
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        prev = hashlib.sha256((prev + body).encode()).hexdigest()
        assert prev == stored
    return prev, [row[2] for row in rows]


def _data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "keys").mkdir(parents=True)
    shutil.copy(RELEASE / "keyring.json", data / "keys" / "keyring.json")
    (data / "keys" / "keyring.json").chmod(0o600)
    (data / "keys" / "secret_key").write_text("release-fixture-secret-" + "x" * 40)
    (data / "static").mkdir()
    return data


def _tillit(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tillit", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _upgrade_and_check(env: dict[str, str], old: tuple[str, list[str]], query) -> None:
    old_head, old_actions = old
    migrated = _tillit(env, "migrate")
    assert "made the consent log's signing key" in migrated
    _tillit(env, "log", "integrate")
    verified = _tillit(env, "audit", "verify", "--offline")
    assert "audit log intact: 15 events in the tree, 0 waiting, 1 checkpoints" in verified
    rows = query("SELECT seq, leaf_index, action, data FROM audit_auditevent ORDER BY leaf_index")
    # Every event kept, in the old order, and the chain's head as the last entry.
    assert [r[1] for r in rows] == list(range(15))
    assert [r[0] for r in rows] == list(range(1, 16))
    assert [r[2] for r in rows[:-1]] == old_actions
    last = rows[-1]
    data = json.loads(last[3]) if isinstance(last[3], str) else last[3]
    assert last[2] == "log.migrated"
    assert data == {"chain_events": 14, "chain_head": old_head, "chain_verified": True}


@pytest.mark.sqlite_only
def test_a_sqlite_database_of_the_last_release_upgrades_with_nothing_lost(tmp_path):
    data = _data_dir(tmp_path)
    db = sqlite3.connect(data / "tillit.sqlite3")
    db.executescript((RELEASE / "sqlite.sql").read_text())
    old = _old_chain(db.execute("SELECT * FROM audit_auditevent ORDER BY seq").fetchall())
    db.close()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env |= {"TILLIT_DATA_DIR": str(data), "TILLIT_SITE_URL": "http://127.0.0.1:8000"}

    def query(sql: str) -> list[tuple]:
        with sqlite3.connect(data / "tillit.sqlite3") as conn:
            return conn.execute(sql).fetchall()

    _upgrade_and_check(env, old, query)
    # The numbering goes on after the old events.
    _tillit(
        env, "shell", "-c", "from tillit.audit.models import record; record('x.y', actor='cli')"
    )
    assert query("SELECT max(seq) FROM audit_auditevent")[0][0] == 16


def test_a_postgresql_database_of_the_last_release_upgrades_with_nothing_lost(tmp_path):
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        pytest.skip("runs on the PostgreSQL leg (DATABASE_URL)")
    psycopg = pytest.importorskip("psycopg")
    base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    name = f"tillit_release_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{base}/{name}"
    try:
        loaded = subprocess.run(
            ["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-f", str(RELEASE / "postgresql.sql")],
            capture_output=True,
            text=True,
        )
        assert loaded.returncode == 0, loaded.stderr

        def query(sql: str) -> list[tuple]:
            with psycopg.connect(url) as conn:
                return conn.execute(sql).fetchall()

        old = _old_chain(query("SELECT * FROM audit_auditevent ORDER BY seq"))
        data = _data_dir(tmp_path)
        env = {**os.environ, "DATABASE_URL": url, "TILLIT_DATA_DIR": str(data)}
        env["TILLIT_SITE_URL"] = "http://127.0.0.1:8000"
        _upgrade_and_check(env, old, query)
        _tillit(
            env, "shell", "-c", "from tillit.audit.models import record; record('x.y', actor='cli')"
        )
        assert query("SELECT max(seq) FROM audit_auditevent")[0][0] == 16
    finally:
        with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
