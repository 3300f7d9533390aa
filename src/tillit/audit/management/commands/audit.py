from django.core.management.base import BaseCommand, CommandError, CommandParser

from tillit.audit.models import verify


class Command(BaseCommand):
    help = "Audit log tools. 'verify' recomputes the hash chain and names the first break."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["verify"])

    def handle(self, *args: object, **options: object) -> None:
        verdict = verify()
        if not verdict.ok:
            raise CommandError(f"audit log broken: {verdict.problem}")
        self.stdout.write(f"audit log intact: {verdict.events} events, chain verified")
