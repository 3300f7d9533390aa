"""SQLite writers wait in a queue (a thread lock, then a file lock among processes) instead of
SQLite's sleeping busy handler: no accepted write fails for want of the lock, and a transaction
in one process keeps writers in every other process out until it ends."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from tillit.core.sqlite.base import DatabaseWrapper

pytestmark = [
    pytest.mark.skipif(connections["default"].vendor != "sqlite", reason="the queue is SQLite's"),
    pytest.mark.django_db,  # lets these tests open their own SQLite files
]


def wrapper(path: Path, **options: Any) -> DatabaseWrapper:
    settings = {
        **connections["default"].settings_dict,
        "NAME": str(path),
        "OPTIONS": {"transaction_mode": "IMMEDIATE", **options},
    }
    return DatabaseWrapper(settings, alias=f"writers-{path.name}")


def begin(db: DatabaseWrapper) -> None:
    db.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)


def end(db: DatabaseWrapper) -> None:
    db.commit()
    db.set_autocommit(True)


def other_process_can_lock(path: Path) -> bool:
    probe = (
        "import fcntl, sys\n"
        f"f = open({str(path) + '.writer-lock'!r}, 'ab')\n"
        "try:\n    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "except OSError:\n    sys.exit(1)\n"
    )
    return subprocess.run([sys.executable, "-c", probe], check=False).returncode == 0


@pytest.mark.promise("P16")
def test_a_transaction_keeps_other_processes_writers_out_until_it_ends(tmp_path):
    db = wrapper(tmp_path / "one.sqlite3")
    db.ensure_connection()
    begin(db)
    assert not other_process_can_lock(tmp_path / "one.sqlite3")
    end(db)
    assert other_process_can_lock(tmp_path / "one.sqlite3")
    db.close()


@pytest.mark.promise("P16")
def test_a_rolled_back_or_closed_transaction_frees_the_queue(tmp_path):
    path = tmp_path / "two.sqlite3"
    db = wrapper(path)
    begin(db)
    db.rollback()
    db.set_autocommit(True)
    assert other_process_can_lock(path)
    begin(db)
    db.close()
    assert other_process_can_lock(path)


@pytest.mark.promise("P16")
def test_concurrent_writers_all_succeed_without_a_busy_timeout(tmp_path):
    """With SQLite's busy timeout at zero, any writer that found the lock taken would fail
    with "database is locked"; in the queue, eight threads' read-modify-writes all land."""
    path = tmp_path / "three.sqlite3"
    setup = wrapper(path, timeout=0)
    with setup.cursor() as cursor:
        cursor.execute("CREATE TABLE counter (n INTEGER)")
        cursor.execute("INSERT INTO counter VALUES (0)")
    setup.close()
    errors: list[BaseException] = []

    def work() -> None:
        db = wrapper(path, timeout=0)
        try:
            for _ in range(40):
                begin(db)
                with db.cursor() as cursor:
                    cursor.execute("SELECT n FROM counter")
                    (n,) = cursor.fetchone()
                    cursor.execute("UPDATE counter SET n = %s", [n + 1])
                end(db)
        except BaseException as error:  # noqa: BLE001 (collected and asserted below)
            errors.append(error)
        finally:
            db.close()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    check = wrapper(path)
    with check.cursor() as cursor:
        cursor.execute("SELECT n FROM counter")
        assert cursor.fetchone() == (320,)
    check.close()


@pytest.mark.promise("P16")
def test_a_single_statement_outside_a_transaction_waits_in_the_same_queue(tmp_path):
    """core/rows.insert writes a visitor's row as one autocommit statement: it holds the queue
    while it runs (other processes wait), and eight threads doing so with SQLite's busy timeout
    at zero all land."""
    path = tmp_path / "four.sqlite3"
    setup = wrapper(path, timeout=0)
    with setup.cursor() as cursor:
        cursor.execute("CREATE TABLE seen (n INTEGER)")
    with setup.writing_alone():
        assert not other_process_can_lock(path)
    assert other_process_can_lock(path)
    setup.close()
    errors: list[BaseException] = []

    def work(k: int) -> None:
        db = wrapper(path, timeout=0)
        try:
            for i in range(40):
                with db.writing_alone(), db.cursor() as cursor:
                    cursor.execute("INSERT INTO seen VALUES (%s)", [k * 100 + i])
        except BaseException as error:  # noqa: BLE001 (collected and asserted below)
            errors.append(error)
        finally:
            db.close()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    check = wrapper(path)
    with check.cursor() as cursor:
        cursor.execute("SELECT COUNT(DISTINCT n) FROM seen")
        assert cursor.fetchone() == (320,)
    check.close()
