"""`tillit migrate`: Django's migrate, one process at a time.

Several web processes may start at once, each applying pending migrations first (an upgrade
rolled out to every machine together). Two migrators working from the same plan would apply the
same migration twice; so each waits for a lock first and makes its plan after it has it: on
PostgreSQL an advisory lock (held by the session, so a killed process frees it), on SQLite a
file lock next to the database."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.management.commands.migrate import Command as Migrate
from django.db import connections
from django.utils.translation import gettext as _

# Any constant both processes agree on: "tillit" in ASCII.
LOCK_KEY = 0x74696C6C6974


@contextmanager
def one_at_a_time(database: str) -> Iterator[None]:
    connection = connections[database]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])
        return
    with open(settings.DATA_DIR / ".migrate.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class Command(Migrate):
    def handle(self, *args: Any, **options: Any) -> None:
        with one_at_a_time(options["database"]):
            super().handle(*args, **options)
            self.ensure_log_key(options["database"])

    def ensure_log_key(self, database: str) -> None:
        """An upgrade from before the consent log makes its signing key here, beside the
        keyring (a data directory that has none is not initialised yet: `init` does it)."""
        from tillit.audit import logkey

        if database != "default" or not settings.KEK_FILE.exists():
            return
        keys, made = logkey.ensure()
        if made:
            self.stdout.write(
                _(
                    "made the consent log's signing key in %(file)s: back it up with the keyring, "
                    "and copy both to every machine that runs a worker. Its verifier key: %(key)s"
                )
                % {"file": settings.LOG_KEY_FILE, "key": keys.active.vkey}
            )
