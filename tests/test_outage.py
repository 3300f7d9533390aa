"""When the database cannot be written or the shared cache is away, the visitor is told so
plainly and nothing is half-kept. The real outages (PostgreSQL restarted, a full disk, several
processes sharing Redis) are in tests/e2e/test_outages.py and tests/e2e/test_scale_out.py."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connection, transaction
from django.test import Client, override_settings
from django_tasks_db.models import DBTaskResult

from tests.processes import free_port
from tests.visitors import record_signups
from tillit.audit.models import AuditEvent
from tillit.consent.models import ConsentRecord
from tillit.partners.models import Delivery
from tillit.subjects.models import Subject
from tillit.vault.models import Envelope

pytestmark = pytest.mark.django_db


@contextmanager
def read_only_database() -> Iterator[None]:
    """The database refuses every write, as a read-only SQLite file or a read-only PostgreSQL
    (a standby, `default_transaction_read_only`) does."""
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA query_only = ON")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA query_only = OFF")
        return
    # On PostgreSQL the setting is undone with the savepoint it was made in.
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET transaction_read_only = on")
        yield
        transaction.set_rollback(True)


def counts() -> dict[str, int]:
    return {
        "subjects": Subject.objects.count(),
        "envelopes": Envelope.objects.count(),
        "deliveries": Delivery.objects.count(),
        "consents": ConsentRecord.objects.count(),
        "jobs": DBTaskResult.objects.count(),
        "events": AuditEvent.objects.count(),
    }


@pytest.mark.promise("P3")
@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/", "Vi kan ikke lagre noe akkurat nå"),
        ("/en/", "We cannot save anything right now"),
    ],
)
def test_a_sign_up_the_database_cannot_keep_is_a_503_that_says_so(partner, visitor, path, words):
    client = Client(raise_request_exception=False)
    assert client.get(path).status_code == 200
    before = counts()
    with read_only_database():
        answer = client.post(path, visitor)
    assert answer.status_code == 503
    assert answer["Retry-After"] == "10"
    page = answer.content.decode()
    assert words in page
    assert "Traceback" not in page and "OperationalError" not in page
    assert visitor["email"] not in page
    assert counts() == before, "a refused sign-up left part of itself behind"


@pytest.mark.promise("P3")
def test_other_failures_are_a_plain_500_without_details(partner, visitor, monkeypatch):
    from tillit.subjects import intake

    def broken(*args, **kwargs):
        raise RuntimeError("kari@example.com")  # an error that quotes what was typed

    monkeypatch.setattr(intake, "accept", broken)
    answer = Client(raise_request_exception=False).post("/en/", visitor)
    assert answer.status_code == 500
    assert "Retry-After" not in answer
    page = answer.content.decode()
    assert "We could not finish what you asked" in page
    assert "kari@example.com" not in page and "RuntimeError" not in page


@pytest.mark.promise("P3")
def test_a_sign_up_is_accepted_while_the_shared_cache_is_away(partner, visitor, caplog):
    """Redis holds the limits when several web processes share them; if it cannot be reached,
    the database they share counts instead (and the operator is told): the site neither refuses
    everyone nor lifts the limits."""
    dead = f"redis://127.0.0.1:{free_port()}/0"
    caches = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": dead}
    }
    with (
        override_settings(CACHES=caches, REDIS_URL=dead, SIGNUPS_PER_IP_PER_HOUR=1),
        caplog.at_level(logging.WARNING, "tillit.site"),
    ):
        answer = Client().post("/", visitor)
        again = Client().post("/", {**visitor, "email": "kari.to@example.com"})
    assert answer.status_code == 302
    assert again.status_code == 429  # the limit of one an hour held, counted in the database
    assert record_signups() == 1 and Subject.objects.count() == 1
    assert "rate limit signup counted in the database: the cache is unavailable" in caplog.text
    assert "127.0.0.1" not in caplog.text.replace(dead, "")  # no client address in the log
