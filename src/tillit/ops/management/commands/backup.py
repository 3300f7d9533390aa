"""`tillit backup [FILE]`: a consistent copy of the SQLite database, taken while tillit runs
(SQLite's online backup). On PostgreSQL it says how to use pg_dump instead. The copy holds
what the database holds: sealed envelopes, blind indexes and records, nothing readable; it
is useless without the keyring, which is backed up separately and kept apart."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop


def on_postgres() -> bool:
    return connection.vendor == "postgresql"


# Translated where it is said (gettext(POSTGRES_GUIDANCE)); the commands in it stay as they are.
POSTGRES_GUIDANCE = gettext_noop(
    "this installation runs on PostgreSQL: back it up with pg_dump, for example\n"
    '  pg_dump --format=custom --file=tillit-$(date +%F).dump "$DATABASE_URL"\n'
    'and restore with pg_restore --clean --dbname="$DATABASE_URL" FILE (docs/deploy.md)'
)


class Command(BaseCommand):
    help = "Copy the SQLite database while tillit runs (PostgreSQL: says how to use pg_dump)."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", nargs="?", type=Path, default=None)

    def handle(self, *args: object, **options: Any) -> None:
        if on_postgres():
            raise CommandError(_(POSTGRES_GUIDANCE))
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        target: Path = options["file"] or settings.DATA_DIR / "backups" / f"tillit-{stamp}.sqlite3"
        if target.exists():
            raise CommandError(_("%(file)s exists already: name a new file") % {"file": target})
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        source = sqlite3.connect(settings.DATABASES["default"]["NAME"])
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
            source.close()
        self.stdout.write(_("backed up to %(file)s") % {"file": target})
        self.stdout.write(
            _(
                "keep the keyring (%(keyring)s) and the secret key (%(secret_key)s) backed up "
                "too, and stored apart from this file: without them nothing sealed in it can be "
                "read"
            )
            % {"keyring": settings.KEK_FILE, "secret_key": settings.SECRET_KEY_FILE}
        )
