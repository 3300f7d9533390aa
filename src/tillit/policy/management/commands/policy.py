from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import get_language, pgettext
from django.utils.translation import gettext as _

from tillit.policy import versions
from tillit.policy.models import PolicyVersion


class Command(BaseCommand):
    help = "The privacy policy's versions: publish a new one, list them."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        publish = sub.add_parser(
            "publish", help="publish the data map and partners as they are now, in force at once"
        )
        publish.add_argument("--summary-nb", required=True, help="what changed, in bokmål")
        publish.add_argument("--summary-en", required=True, help="what changed, in English")
        publish.add_argument(
            "--minor",
            action="store_true",
            help="a change returning visitors need not be told of (wording, typos)",
        )
        sub.add_parser("list", help="list the published versions")

    def handle(self, *args: object, **o: Any) -> None:
        if o["action"] == "list":
            kinds = {True: pgettext("policy", "material"), False: pgettext("policy", "minor")}
            width = max(len(kind) for kind in kinds.values())
            nb = (get_language() or "").startswith("nb")
            for v in PolicyVersion.objects.all():
                self.stdout.write(
                    f"{v.number:4}  {v.published_at:%Y-%m-%d %H:%M}  {kinds[v.material]:{width}}"
                    f"  {v.text_hash[:12]}  {v.summary_nb if nb else v.summary_en}"
                )
            return
        try:
            version = versions.publish(
                o["summary_nb"], o["summary_en"], actor="cli", material=not o["minor"]
            )
        except versions.NothingChanged as refusal:
            raise CommandError(str(refusal)) from None
        self.stdout.write(
            _("published version %(number)s (%(hash)s)")
            % {"number": version.number, "hash": version.text_hash[:12]}
        )
