"""The rate limits' counters in the shared database: exact under concurrency, keyed so that no
address is kept, and gone once their window has passed. (Across real web processes:
tests/e2e/test_limits.py.)"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection

from tillit.core.models import Attempts
from tillit.core.ratelimit import forget_spent_attempts, hit_key
from tillit.worker.retention import RULES

pytestmark = pytest.mark.promise("P3")

ADDRESS = "teller@example.com"


@pytest.mark.django_db
def test_the_limit_admits_exactly_its_number_per_window_and_keeps_no_address():
    with time_machine.travel(datetime(2026, 12, 7, 10, 5, tzinfo=UTC), tick=False):
        assert [hit_key("codes", ADDRESS, 3) for _ in range(5)] == [True] * 3 + [False] * 2
        assert hit_key("codes", "annen@example.com", 3)  # another address, its own count
        assert hit_key("contact", ADDRESS, 3)  # another limit, its own count
    with time_machine.travel(datetime(2026, 12, 7, 11, 0, 1, tzinfo=UTC), tick=False):
        assert hit_key("codes", ADDRESS, 3)  # a new hour
    keys = list(Attempts.objects.values_list("key", flat=True))
    assert len(keys) == 4
    assert not any(part in key for key in keys for part in ("teller", "annen", "example"))


@pytest.mark.django_db
def test_spent_counters_are_deleted_by_the_worker_retention():
    assert forget_spent_attempts in RULES
    with time_machine.travel(datetime(2026, 12, 7, 10, 5, tzinfo=UTC), tick=False):
        hit_key("codes", ADDRESS, 3)
        hit_key("signup", "192.0.2.1", 20, window_seconds=60)
    assert forget_spent_attempts(datetime(2026, 12, 7, 10, 59, tzinfo=UTC)) == 1  # the minute's
    assert forget_spent_attempts(datetime(2026, 12, 7, 10, 59, tzinfo=UTC)) == 0
    assert forget_spent_attempts(datetime(2026, 12, 7, 11, 0, 1, tzinfo=UTC)) == 1  # the hour's
    assert not Attempts.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_counts_racing_from_many_threads_admit_no_more_than_the_limit():
    """Each thread has its own connection, as each web process does: the count is one atomic
    statement, so 40 tries at once admit exactly 10."""
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("an in-memory SQLite database is not shared between connections")
    admitted: list[bool] = []
    start = threading.Barrier(8)

    def attacker() -> None:
        start.wait()
        try:
            for _ in range(5):
                admitted.append(hit_key("codes", ADDRESS, 10))
        finally:
            connection.close()

    threads = [threading.Thread(target=attacker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert admitted.count(True) == 10 and len(admitted) == 40
    assert Attempts.objects.get().count == 40
    assert Attempts.objects.get().expires > (datetime.now(UTC) - timedelta(hours=1)).timestamp()


@pytest.mark.django_db
def test_on_postgresql_the_counters_stay_out_of_the_write_ahead_log():
    """UNLOGGED: not in WAL archives, replicas or base backups; a crash empties the table."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    with connection.cursor() as cursor:
        cursor.execute("SELECT relpersistence FROM pg_class WHERE relname = 'core_attempts'")
        assert cursor.fetchone() == ("u",)
