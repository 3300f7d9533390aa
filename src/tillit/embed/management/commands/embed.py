"""`tillit embed`: what to paste into the operator's own site (the console's "Your own site"
page says the same), or with --page a whole example page holding both snippets."""

from __future__ import annotations

import html
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _

from tillit import datamap
from tillit.console.embed import snippets
from tillit.core import brand

PAGE = """<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{name}</title>
<!-- 1. The cookie banner: first in the head, before any tag of your own. -->
{banner}
</head>
<body>
<main id="main">
<h1>{name}</h1>
<!-- 2. The sign-up form, where it should stand. -->
{form}
<p><a href="#" data-cc-open>{cookies}</a></p>
</main>
</body>
</html>
"""


class Command(BaseCommand):
    help = (
        "Print the snippets that put the cookie banner and the sign-up form on your own site, "
        "and the sites allowed to use them (docs/embed.md); --page prints an example page."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--page", action="store_true", help="a whole HTML page with both")
        parser.add_argument("--language", choices=datamap.LANGS, default="nb")

    def handle(self, *args: object, **options: Any) -> None:
        dm = datamap.load()
        code = snippets(settings.SITE_URL)
        if options["page"]:
            cookies = "Informasjonskapsler" if options["language"] == "nb" else "Cookies"
            self.stdout.write(
                PAGE.format(
                    lang=options["language"],
                    name=html.escape(brand.current().operator["name"]),
                    banner=code["banner"],
                    form=code["form"],
                    cookies=cookies,
                )
            )
            if not dm.embed_origins:
                self.stderr.write(_("No site may use these yet: list yours in [embed] origins."))
            return
        listed = ", ".join(dm.embed_origins) or _("none yet: list yours in [embed] origins")
        sites = _("Sites allowed (%(file)s): %(sites)s") % {
            "file": settings.OPERATOR_FILE,
            "sites": listed,
        }
        api = f"{settings.SITE_URL}/api/v1/openapi.json"
        self.stdout.write(
            f"{sites}\n\n"
            + _("The cookie banner, in the <head> of every page, before your own Google tag:")
            + f"\n  {code['banner']}\n\n"
            + _("The sign-up form, where it should stand:")
            + f"\n  {code['form']}\n\n"
            + _("Without scripts, a frame of fixed height:")
            + f"\n  {code['frame']}\n\n"
            + _("If your site sends a Content-Security-Policy, allow:")
            + f"\n  {code['csp']}\n\n"
            + _("Your own form instead: %(url)s") % {"url": api}
            + "\n"
        )
