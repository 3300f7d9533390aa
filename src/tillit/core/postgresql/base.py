"""Django's PostgreSQL backend, with a health check that costs no round trip when it can, and
one statement run straight on the driver for the visitor's single-row INSERTs.

With CONN_HEALTH_CHECKS, Django asks the server `SELECT 1` before the first query of every
request that reuses a connection: on a cookie choice, which is one INSERT, that is a second
round trip and a tenth of the web process's CPU. A connection the server has closed (a
restart, an idle timeout, a terminated backend) makes its socket readable, at the end of the
stream or with the server's last message, while an idle connection in good health has nothing
to read. So the socket is looked at first, without waiting; only when there is something to
read, a transaction is open, or the connection has been idle for longer than
QUIET_SECONDS, is the server asked as before: a peer that vanished without a word (a failover
that moved the address, a NAT or load balancer that dropped an idle flow) says nothing to the
socket until something is sent, and a busy connection is the one whose check is frequent.

`execute_alone` runs one statement in autocommit mode with server-side binding (Django binds
parameters in Python and sends the text each time), without Django's cursor layers:
core/rows.insert uses it for the sign-up's and the cookie choice's row, core/rows.returning for
the rate limits' counters. (Django connects
with psycopg's automatic preparing off, which keeps it safe behind a transaction-mode pool.)
"""

from __future__ import annotations

import select
import time
from collections.abc import Sequence
from typing import Any

import psycopg
from django.db.backends.postgresql import base
from psycopg import pq

# A connection checked more recently than this is in use: its socket tells its health.
QUIET_SECONDS = 10.0


class DatabaseWrapper(base.DatabaseWrapper):
    # When the connection last showed itself healthy: opened, or checked (either way).
    checked_at = float("-inf")

    def get_new_connection(self, conn_params: dict[str, Any]) -> psycopg.Connection[Any]:
        connection = super().get_new_connection(conn_params)
        self.checked_at = time.monotonic()
        return connection

    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        now, last = time.monotonic(), self.checked_at
        self.checked_at = now
        idle = connection.pgconn.transaction_status == pq.TransactionStatus.IDLE
        # After an error (Django asks before keeping the connection), always the server.
        quiet = now - last >= QUIET_SECONDS or self.errors_occurred
        if idle and not quiet and not _readable(connection.fileno()):
            return True
        return super().is_usable()

    def execute_alone(self, sql: str, params: Sequence[object]) -> tuple[Any, ...] | None:
        """Run one statement in autocommit mode; the first row it returns (RETURNING), if any."""
        self.close_if_health_check_failed()
        self.ensure_connection()
        self.validate_thread_sharing()
        with self.wrap_database_errors, psycopg.Cursor(self.connection) as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone() if cursor.description else None


def _readable(fd: int) -> bool:
    """Something to read (the server's last words, or the end of the stream), or unknown."""
    poller = select.poll()
    try:
        poller.register(fd, select.POLLIN | select.POLLPRI)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True
