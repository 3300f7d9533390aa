import os
import secrets
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Serve the reference partner (its own settings and database) on --port."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, required=True)
        parser.add_argument("--workers", type=int, default=1)
        parser.add_argument("--threads", type=int, default=4)

    def handle(self, *args: object, **options: object) -> None:
        settings.DATA_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not settings.PARTNER_SECRET:
            raise CommandError(
                f"no shared secret: set PARTNER_SECRET(_FILE) or write it to {settings.SECRET_FILE}"
                f" (for example: {secrets.token_urlsafe(8)}...; 'tillit init --demo' does this)"
            )
        call_command("migrate", interactive=False, verbosity=0)
        # The witness's key, made now if it has none: a bad key file stops the start.
        from tillit.reference_partner import witness

        witness.witness_key()
        # Granian in this process's place, so signals reach it (no access log: paths carry ids).
        argv = [sys.executable, "-m", "granian", "--interface", "wsgi"]
        argv += ["tillit.reference_partner.wsgi:application", "--no-ws", "--log-level", "warning"]
        argv += ["--host", str(options["host"]), "--port", str(options["port"])]
        argv += ["--workers", str(options["workers"])]
        argv += ["--blocking-threads", str(options["threads"])]
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(argv[0], argv)
