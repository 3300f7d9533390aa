"""Django's SQLite backend, with writers queued instead of polling.

SQLite lets one transaction write at a time. A writer that finds the lock taken waits in
SQLite's busy handler, which sleeps in steps of up to 100 ms and re-tries: under a burst of
sign-ups most of the time goes to sleeping, and the slowest sign-ups wait for seconds. Here every
transaction (they all begin IMMEDIATE, so all of them write) first queues for a lock the kernel
hands over the moment it is free: a thread lock among the threads of one process, then an
exclusive `flock` on a file beside the database among processes. SQLite's own lock and busy
timeout stay as they were, for statements outside transactions and for other programs.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from django.db.backends.sqlite3 import base


class _WriterQueue:
    """One per process: a thread lock, then a file lock shared with the other processes."""

    def __init__(self) -> None:
        self.thread_lock = threading.Lock()
        self.files: dict[str, tuple[int, IO[bytes]]] = {}

    def _file(self, database: str) -> IO[bytes]:
        # A file opened before a fork would share its lock with the parent: open one per pid.
        pid, handle = self.files.get(database, (0, None))
        if handle is None or pid != os.getpid():
            handle = Path(f"{database}.writer-lock").open("ab")
            self.files[database] = (os.getpid(), handle)
        return handle

    def acquire(self, database: str) -> None:
        self.thread_lock.acquire()
        try:
            fcntl.flock(self._file(database), fcntl.LOCK_EX)
        except BaseException:
            self.thread_lock.release()
            raise

    def release(self, database: str) -> None:
        try:
            fcntl.flock(self._file(database), fcntl.LOCK_UN)
        finally:
            self.thread_lock.release()


WRITERS = _WriterQueue()


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.holds_writer_lock = False

    def _queued(self) -> bool:
        return not self.is_in_memory_db()

    def execute_alone(self, sql: str, params: Sequence[object]) -> tuple[Any, ...] | None:
        """Run one statement (`%s` placeholders) as its own transaction, in the writers'
        queue, straight on the driver: the visitor's single-row INSERTs (core/rows.insert) and
        the rate limits' counters (core/rows.returning). The first row it returns, if any."""
        self.ensure_connection()
        self.validate_thread_sharing()
        # The statements come from model metadata: no `%s` but the placeholders.
        with self.wrap_database_errors, self.writing_alone():
            cursor = self.connection.execute(sql.replace("%s", "?"), params)
            try:
                # A RETURNING statement is finished only when its rows are read.
                return cursor.fetchone() if cursor.description else None
            finally:
                cursor.close()

    @contextmanager
    def writing_alone(self) -> Iterator[None]:
        """Hold the writers' queue around statements run in autocommit mode (each its own
        transaction), so that a single-row INSERT waits in the queue, not in SQLite's busy
        handler, without the cost of a transaction around it (core/rows.insert)."""
        if not self._queued():
            yield
            return
        name = str(self.settings_dict["NAME"])
        WRITERS.acquire(name)
        try:
            yield
        finally:
            WRITERS.release(name)

    def _start_transaction_under_autocommit(self) -> None:
        if self._queued():
            WRITERS.acquire(str(self.settings_dict["NAME"]))
            self.holds_writer_lock = True
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._release_writer()
            raise

    def _release_writer(self) -> None:
        if self.holds_writer_lock:
            self.holds_writer_lock = False
            WRITERS.release(str(self.settings_dict["NAME"]))

    def _commit(self) -> None:
        try:
            super()._commit()
        finally:
            self._release_writer()

    def _rollback(self) -> None:
        try:
            super()._rollback()
        finally:
            self._release_writer()

    def _close(self) -> None:
        try:
            super()._close()
        finally:
            self._release_writer()
