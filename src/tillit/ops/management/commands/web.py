from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from tillit.core.serve import SERVERS, exec_server


class Command(BaseCommand):
    help = "Serve the site and the staff console with a production WSGI server."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=settings.WEB_WORKERS)
        parser.add_argument("--threads", type=int, default=settings.WEB_THREADS)
        parser.add_argument("--server", choices=SERVERS, default="granian")
        parser.add_argument(
            "--no-migrate", action="store_true", help="do not apply pending migrations first"
        )

    def handle(self, *args: object, **options: object) -> None:
        call_command("check", fail_level="ERROR", system_only=True)
        if not options["no_migrate"]:
            call_command("migrate", interactive=False, verbosity=0)
        exec_server(
            "tillit.wsgi:application",
            host=options["host"],
            port=options["port"],
            workers=options["workers"],
            threads=options["threads"],
            server=options["server"],
        )
