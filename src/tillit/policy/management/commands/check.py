"""`tillit check`: Django's system checks, then proof that the privacy policy is true of the
running system: the cookies the scanner sees are all declared, every purpose has a lawful
basis and a retention period, every active partner has a DPA on record, and every promise has
a test that names it. Exit 1 with the list of what is not so."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.commands.check import Command as SystemCheck
from django.utils.translation import gettext as _

from tillit import datamap
from tillit.consent import cookies, scan
from tillit.policy import proof

REPO = Path(__file__).resolve().parents[5]


class Command(SystemCheck):
    help = (
        "Run the system checks, then prove the privacy policy true of the running system "
        "(cookies seen, purposes, partners' agreements, a test for every promise)."
    )

    def add_arguments(self, parser: Any) -> None:
        super().add_arguments(parser)
        parser.add_argument("--system-only", action="store_true", help="the system checks only")
        parser.add_argument("--url", default="", help="the running site (default TILLIT_SITE_URL)")
        parser.add_argument("--no-scan", action="store_true", help="skip the cookie scan")
        parser.add_argument("--tests", type=Path, default=REPO / "tests")
        parser.add_argument(
            "--promises", type=Path, default=REPO.parent / "shared" / "spec" / "PROMISES.md"
        )
        parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")

    def handle(self, *app_labels: Any, **options: Any) -> None:
        super().handle(*app_labels, **options)
        if options["system_only"]:
            return
        report = proof.Report()
        report.problems += proof.purposes()
        report.problems += proof.partners()
        if options["tests"].is_dir():
            found, report.lines = proof.promises(options["promises"], options["tests"])
            report.problems += found
        else:
            report.problems.append(
                _("no tests at %(path)s: cannot prove the promises") % {"path": options["tests"]}
            )
        if not options["no_scan"]:
            report.problems += self.scan(options["url"] or settings.SITE_URL, options["chromium"])
        self.stdout.write(_("promises and the tests that prove them:"))
        for line in report.lines:
            self.stdout.write(f"  {line}")
        if report.problems:
            self.stdout.write(
                "\n"
                + _("the policy is not proven (%(count)s problems):")
                % {"count": len(report.problems)}
            )
            for problem in report.problems:
                self.stdout.write(f"  - {problem}")
            sys.exit(1)
        self.stdout.write("\n" + _("the policy is proven true of this system"))

    def scan(self, url: str, chromium: str) -> list[str]:
        """Every cookie, storage entry and third party seen is declared, and none comes before
        consent (`tillit scan`)."""
        dm = datamap.load()
        found: list[str] = []
        try:
            seen_all = list(
                scan.observe(url.rstrip("/"), ["/", "/en/", "/cookies/", dm.policy_path], chromium)
            )
        except Exception as error:  # the site is down, or no browser: say so, fail
            return [
                _("the cookie scan of %(url)s could not run: %(error)s")
                % {"url": url, "error": f"{type(error).__name__}: {error}"}
            ]
        embeds = cookies.embed_hosts()
        for seen in seen_all:
            found += [_("scan: %(trouble)s") % {"trouble": t} for t in seen.trouble]
            for f in scan.judge(url.rstrip("/"), seen, dm, embeds):
                if f.bad:
                    found.append(
                        _("scan (%(state)s): %(kind)s %(name)s at %(where)s: %(verdict)s")
                        % {
                            "state": f.state,
                            "kind": f.kind,
                            "name": f.name,
                            "where": f.where,
                            "verdict": f.verdict,
                        }
                    )
        return found
