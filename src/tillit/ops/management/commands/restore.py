"""`tillit restore FILE --yes`: put a backup made by `tillit backup` in place of the SQLite
database. Stop `tillit web` and `tillit worker` first. The keyring must hold the keys the
backup's envelopes are wrapped under: `tillit keys rotate` retires old keys once everything is
re-wrapped, so a backup older than a rotation needs the keyring saved with it."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from tillit.ops.management.commands.backup import POSTGRES_GUIDANCE, on_postgres


class Command(BaseCommand):
    help = "Replace the SQLite database with a backup (stop web and worker first)."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--yes", action="store_true", help="really replace the database")

    def handle(self, *args: object, **options: Any) -> None:
        if on_postgres():
            raise CommandError(_(POSTGRES_GUIDANCE))
        source_path: Path = options["file"]
        if not source_path.is_file():
            raise CommandError(_("no backup at %(file)s") % {"file": source_path})
        source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
        try:
            verdict = source.execute("PRAGMA integrity_check").fetchone()[0]
            tables = {r[0] for r in source.execute("SELECT name FROM sqlite_master")}
            if verdict != "ok" or not {"django_migrations", "vault_envelope"} <= tables:
                raise CommandError(
                    _("%(file)s is not a sound tillit backup (%(verdict)s)")
                    % {"file": source_path, "verdict": verdict}
                )
            if not options["yes"]:
                raise CommandError(
                    _("this replaces the whole database: stop web and worker, then add --yes")
                )
            live = sqlite3.connect(settings.DATABASES["default"]["NAME"])
            try:
                source.backup(live)
            finally:
                live.close()
        finally:
            source.close()
        self.stdout.write(
            _("restored %(file)s; run `tillit migrate` if the code is newer")
            % {"file": source_path}
        )
