from typing import Any

import httpx
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from tillit.audit import proofs, witnesses
from tillit.audit.models import Witness
from tillit.audit.verify import verify


class Command(BaseCommand):
    help = (
        "Audit log tools. 'verify' recomputes the whole Merkle log from its entries, checks every "
        "stored hash, checkpoint signature and cosignature against it, then asks each witness "
        "whether the latest checkpoint extends what it co-signed (--offline skips that)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["verify"])
        parser.add_argument("--offline", action="store_true", help="do not ask the witnesses")

    def handle(self, *args: object, **options: Any) -> None:
        verdict = verify()
        if not verdict.ok:
            raise CommandError(_("audit log broken: %(problem)s") % {"problem": verdict.problem})
        self.stdout.write(
            _(
                "audit log intact: %(events)s events in the tree, %(waiting)s waiting, "
                "%(checkpoints)s checkpoints and %(cosignatures)s cosignatures verified"
            )
            % {
                "events": verdict.events,
                "waiting": verdict.waiting,
                "checkpoints": verdict.checkpoints,
                "cosignatures": verdict.cosignatures,
            }
        )
        checkpoint = proofs.latest()
        active = list(Witness.objects.filter(active=True))
        if options["offline"] or not active or checkpoint is None:
            return
        with httpx.Client() as client:
            outcomes = [witnesses.send(client, w, checkpoint) for w in active]
        for outcome in outcomes:
            said = _("co-signed the latest checkpoint") if outcome.cosigned else outcome.problem
            self.stdout.write(
                "  "
                + _("witness %(witness)s: %(said)s") % {"witness": outcome.witness, "said": said}
            )
        alarms = [o for o in outcomes if o.alarm]
        if alarms:
            raise CommandError(
                _("a witness refused the log: %(problem)s") % {"problem": alarms[0].problem}
            )
