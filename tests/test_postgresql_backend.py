"""tillit's PostgreSQL backend checks a reused connection's health by looking at its socket:
a healthy idle connection costs no round trip, and one the server has closed is found out and
replaced before a request uses it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection, connections

from tillit.core.postgresql import base
from tillit.core.postgresql.base import DatabaseWrapper

pytestmark = [
    pytest.mark.skipif(connections["default"].vendor != "postgresql", reason="PostgreSQL's"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def observer() -> Iterator[psycopg.Connection]:
    """A second connection, to watch and to act on Django's from outside."""
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        yield other


def last_query_of(observer: psycopg.Connection, pid: int) -> str:
    row = observer.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
    return row[0] if row else ""


def own_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid() /* marker */")
        return cursor.fetchone()[0]


def test_the_default_database_uses_the_socket_checking_backend():
    assert isinstance(connections["default"], DatabaseWrapper)
    assert connection.settings_dict["CONN_HEALTH_CHECKS"] is True


@pytest.mark.promise("P3")
def test_a_healthy_connection_in_use_is_usable_without_asking_the_server(observer):
    connection.ensure_connection()
    assert connection.is_usable()  # checked once: from now on it counts as in use
    pid = own_pid()
    assert connection.is_usable()
    # The server saw no `SELECT 1`: the connection's last query is still ours.
    assert "marker" in last_query_of(observer, pid)


@pytest.mark.promise("P3")
def test_after_an_error_the_server_is_asked(observer):
    """Django checks a connection after an error before keeping it: that check asks."""
    pid = own_pid()
    connections["default"].checked_at = time.monotonic()
    connection.errors_occurred = True
    try:
        assert connection.is_usable()
    finally:
        connection.errors_occurred = False
    assert last_query_of(observer, pid) == "SELECT 1"


@pytest.mark.promise("P3")
def test_a_new_connection_counts_as_checked(observer):
    connection.close()
    connection.ensure_connection()
    assert time.monotonic() - connections["default"].checked_at < 5


@pytest.mark.promise("P3")
def test_a_connection_quiet_for_long_is_asked_as_before(observer):
    """A peer that vanished without a word (a failover, a dropped NAT flow) leaves the socket
    silent: after QUIET_SECONDS without a check, the server is asked."""
    pid = own_pid()
    connections["default"].checked_at = time.monotonic() - base.QUIET_SECONDS - 1
    assert connection.is_usable()
    assert last_query_of(observer, pid) == "SELECT 1"


@pytest.mark.promise("P3")
def test_a_connection_the_server_closed_is_found_unusable_and_replaced(observer, monkeypatch):
    pid = own_pid()
    observer.execute("SELECT pg_terminate_backend(%s)", [pid])
    # The socket must tell: a connection in use is handed on unasked unless its socket has
    # something to say, and only then is the server asked (here a stand-in that says "gone").
    asked = []
    monkeypatch.setattr(base.base.DatabaseWrapper, "is_usable", lambda self: asked.append(1))
    for _ in range(100):  # the server's goodbye reaches the socket within moments
        connections["default"].checked_at = time.monotonic()  # in use: no quiet rule
        if not connection.is_usable():
            break
        time.sleep(0.01)
    else:
        pytest.fail("a terminated connection still reads as usable")
    assert asked == [1]
    monkeypatch.undo()
    # What Django does at a request's first query: the dead connection is replaced.
    connection.health_check_done = False
    connection.close_if_health_check_failed()
    assert own_pid() != pid
