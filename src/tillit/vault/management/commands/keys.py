from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _

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
            _("new key %(key)s is active; %(count)s envelope(s) re-wrapped; retired: %(retired)s")
            % {
                "key": report.new_kek_id,
                "count": report.rewrapped,
                "retired": ", ".join(report.retired) or "-",
            }
        )
        if report.kept:
            self.stderr.write(
                _("kept (still in use; run again): %(kept)s") % {"kept": ", ".join(report.kept)}
            )
