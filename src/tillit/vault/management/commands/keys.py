from django.core.management.base import BaseCommand, CommandParser

from tillit.audit.models import record
from tillit.vault.rotate import rotate


class Command(BaseCommand):
    help = (
        "Key tools. 'rotate' makes a new key-encryption key active, re-wraps every data key "
        "under it, and drops old keys that no longer wrap anything."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["rotate"])
        parser.add_argument(
            "--grace",
            type=float,
            default=2.0,
            help="seconds to wait for other processes before the second pass",
        )

    def handle(self, *args: object, **options: object) -> None:
        report = rotate(grace_seconds=float(options["grace"]))  # type: ignore[arg-type]
        record(
            "keys.rotated",
            actor="cli",
            new_kek=report.new_kek_id,
            rewrapped=report.rewrapped,
            retired=report.retired,
        )
        self.stdout.write(
            f"new key {report.new_kek_id} is active; {report.rewrapped} "
            f"envelope(s) re-wrapped; retired: {', '.join(report.retired) or '-'}"
        )
        if report.kept:
            self.stderr.write(f"kept (still in use; run again): {', '.join(report.kept)}")
