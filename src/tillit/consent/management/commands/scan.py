import json
import shutil
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from tillit import datamap
from tillit.consent import cookies, scan


class Command(BaseCommand):
    help = (
        "Open the site in headless Chromium with no choice, after 'Reject all' and after "
        "'Accept all'; list every cookie, storage entry and third-party request, and exit 1 "
        "on anything the data map does not declare or that came before consent."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("url", nargs="?", default="", help="the site (default TILLIT_SITE_URL)")
        parser.add_argument(
            "--path",
            action="append",
            dest="paths",
            help="a page to visit (repeatable; default: /, /en/, /cookies/ and the policy)",
        )
        parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
        parser.add_argument("--json", action="store_true", help="print the findings as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        url = (options["url"] or settings.SITE_URL).rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise CommandError(_("not a web address: %(url)s") % {"url": repr(url)})
        dm = datamap.load()
        paths = options["paths"] or ["/", "/en/", "/cookies/", dm.policy_path]
        findings: list[scan.Finding] = []
        trouble: list[str] = []
        embeds = cookies.embed_hosts()  # partners' pages: declared by their partner records
        for seen in scan.observe(url, paths, options["chromium"]):
            trouble += seen.trouble
            findings += scan.judge(url, seen, dm, embeds)
        if options["json"]:
            rows = [f.__dict__ | {"bad": f.bad} for f in findings]
            self.stdout.write(json.dumps({"site": url, "findings": rows, "trouble": trouble}))
        else:
            self._table(url, paths, findings, trouble)
        if trouble or any(f.bad for f in findings):
            sys.exit(1)

    def _table(
        self, url: str, paths: list[str], findings: list[scan.Finding], trouble: list[str]
    ) -> None:
        pages = _("pages: %(paths)s") % {"paths": " ".join(paths)}
        self.stdout.write(f"tillit scan {url}  ({pages})\n")
        # The column names are read; the findings' states, kinds and verdicts are the scanner's
        # own words, the same in --json, and stay as they are.
        header = (
            pgettext("scan column", "state"),
            pgettext("scan column", "kind"),
            pgettext("scan column", "name"),
            pgettext("scan column", "where"),
            pgettext("scan column", "category"),
            pgettext("scan column", "verdict"),
        )
        rows = [header] + [
            (f.state, f.kind, f.name, f.where, f.category or "-", f.verdict) for f in findings
        ]
        widths = [max(len(str(r[i])) for r in rows) for i in range(len(header))]
        for n, row in enumerate(rows):
            cells = (str(c).ljust(w) for c, w in zip(row, widths, strict=True))
            self.stdout.write("  ".join(cells).rstrip())
            if n == 0:
                self.stdout.write("  ".join("-" * w for w in widths))
        for line in trouble:
            self.stdout.write(_("problem: %(problem)s") % {"problem": line})
        bad = [f for f in findings if f.bad]
        if bad or trouble:
            # FAIL and OK are the verdict, for a script to find in any language.
            self.stdout.write(
                "\nFAIL: "
                + _(
                    "%(bad)s finding(s) undeclared or before consent, %(trouble)s problem(s). "
                    "Declare cookies and hosts in the data map ([[cookies]], [[third_parties]]), "
                    "or stop setting them before consent."
                )
                % {"bad": len(bad), "trouble": len(trouble)}
            )
        else:
            self.stdout.write(
                "\nOK: "
                + _(
                    "%(findings)s finding(s) in %(states)s states, all declared, "
                    "none before consent."
                )
                % {"findings": len(findings), "states": len(scan.STATES)}
            )
