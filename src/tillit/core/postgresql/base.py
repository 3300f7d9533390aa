"""Django's PostgreSQL backend, with a health check that costs no round trip when it can, and
one statement run straight on the driver, prepared, for the visitor's single-row INSERTs.

With CONN_HEALTH_CHECKS, Django asks the server `SELECT 1` before the first query of every
request that reuses a connection: on a cookie choice, which is one INSERT, that is a second
round trip and a tenth of the web process's CPU. A connection the server has closed (a
restart, an idle timeout, a terminated backend) makes its socket readable, at the end of the
stream or with the server's last message, while an idle connection in good health has nothing
to read. So the socket is looked at first, without waiting; only when there is something to
read, or a transaction is open, is the server asked as before.

`execute_alone` runs one statement in autocommit mode with server-side binding and a prepared
statement (Django binds parameters in Python and sends the text each time), without Django's
cursor layers: core/rows.insert uses it for the sign-up's and the cookie choice's row.
"""

from __future__ import annotations

import select
from collections.abc import Sequence

import psycopg
from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if connection.pgconn.transaction_status == pq.TransactionStatus.IDLE:
            try:
                readable, _, _ = select.select([connection.fileno()], [], [], 0)
            except (OSError, ValueError):
                return False
            if not readable:
                return True
        return super().is_usable()

    def execute_alone(self, sql: str, params: Sequence[object]) -> None:
        self.close_if_health_check_failed()
        self.ensure_connection()
        self.validate_thread_sharing()
        with self.wrap_database_errors, psycopg.Cursor(self.connection) as cursor:
            cursor.execute(sql, params, prepare=True)
