"""`tillit partner-check`: the partner conformance suite (partners/conformance/) from a shell.

Exit status 0 when the partner passes, 1 when a check fails, 2 for bad usage (with a message,
and nothing sent)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError
from django.utils.translation import gettext as _

from tillit.env import env_secret
from tillit.partners import conformance
from tillit.partners.models import Partner

USAGE = 2
MAX_SECRETS = 2


def _usage(message: str) -> CommandError:
    return CommandError(message, returncode=USAGE)


class Command(BaseCommand):
    help = (
        "Check a partner's endpoint against the partner protocol with signed test traffic "
        "(test identities only, erased at the end): partner-check URL --secret-file F, or "
        "partner-check --partner SLUG [URL]."
    )
    # It speaks to a partner, not to this installation's configuration: `tillit check` does.
    requires_system_checks: list[str] = []

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        return super().create_parser(prog_name, "partner-check", **kwargs)  # as it is typed

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("url", nargs="?", help="the partner's endpoint (its base URL)")
        parser.add_argument(
            "--partner", metavar="SLUG", help="a registered partner: its endpoint and secrets"
        )
        parser.add_argument(
            "--secret-file",
            metavar="F",
            type=Path,
            help="the shared secret, one a line (two while rotating); else TILLIT_PARTNER_SECRET",
        )
        parser.add_argument(
            "--no-rights-api",
            dest="rights_api",
            action="store_false",
            help="the partner has no rights API: skip its checks",
        )
        parser.add_argument("--json", action="store_true", help="the report as JSON")
        parser.add_argument(
            "--callback-url",
            metavar="URL",
            help="the URL the partner calls back (default: the listener's own)",
        )
        parser.add_argument(
            "--listen",
            metavar="HOST:PORT",
            help="where the callback listener listens (default 127.0.0.1 and a free port)",
        )
        parser.add_argument(
            "--wait",
            metavar="SECONDS",
            type=float,
            default=30.0,
            help="how long to wait for requests to be carried out and called back (30)",
        )
        parser.add_argument(
            "--check",
            dest="checks",
            metavar="ID",
            action="append",
            help="run only this check (repeat for more)",
        )

    def handle(self, *args: object, **options: Any) -> None:
        report = self.checked(options)
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
        else:
            self.stdout.write(report.text(), ending="")
        if options["partner"]:
            self.keep(report, options)
        if not report.passed:
            sys.exit(1)

    def keep(self, report: conformance.Report, options: dict[str, Any]) -> None:
        """A registered partner's full report is kept with it: the sandbox lets it go live on
        the last one (P18). A run of some checks only, or one that skips the rights API the
        partner is registered with, proves less than going live needs: it is not kept."""
        from tillit.partners import sandbox

        partner = Partner.objects.get(slug=options["partner"])
        if options["checks"] or (partner.rights_api and not options["rights_api"]):
            said = _("not kept with the partner: only a full run of every check is")
        else:
            sandbox.record(partner, report.as_dict(), actor="cli")
            said = _("kept with %(slug)s; `tillit partners go-live %(slug)s` may use it") % {
                "slug": partner.slug
            }
        # On stderr, so that --json's output stays one JSON document.
        self.stderr.write(said)

    def checked(self, options: dict[str, Any]) -> conformance.Report:
        settings = self.run_options(options)
        if options["wait"] < 0:
            raise _usage(_("--wait must be 0 seconds or more"))
        try:
            if options["partner"]:
                partner = self.partner(options)
                return conformance.run_for(partner, endpoint=options["url"], **settings)
            if not options["url"]:
                raise _usage(_("give the partner's endpoint URL, or --partner SLUG"))
            return conformance.run(
                options["url"],
                self.secrets(options),
                witness=_witness_under(options["url"]),
                rights_api=options["rights_api"],
                **settings,
            )
        except ValueError as error:
            raise _usage(str(error)) from None
        except OSError as error:
            raise _usage(
                _("cannot listen for callbacks on %(where)s: %(error)s")
                % {"where": options["listen"] or "127.0.0.1", "error": error.strerror or error}
            ) from None

    def run_options(self, options: dict[str, Any]) -> dict[str, Any]:
        callback = options["callback_url"]
        if callback and urlsplit(callback).scheme not in ("http", "https"):
            raise _usage(_("--callback-url must be an http(s) URL"))
        return {
            "callback_url": callback,
            "listen": _listen(options["listen"]) if options["listen"] else None,
            "wait_seconds": options["wait"],
            "checks": options["checks"],
        }

    def partner(self, options: dict[str, Any]) -> Partner:
        if options["secret_file"]:
            raise _usage(_("--partner takes its secrets from the vault: leave out --secret-file"))
        try:
            partner = Partner.objects.filter(slug=options["partner"]).first()
        except DatabaseError as error:
            raise _usage(
                _("tillit's database cannot be read (%(error)s): run tillit init first")
                % {"error": type(error).__name__}
            ) from None
        if partner is None:
            raise _usage(_("no partner %(slug)s") % {"slug": repr(options["partner"])})
        if not options["rights_api"]:
            partner.rights_api = False  # for this check only; never saved
        return partner

    def secrets(self, options: dict[str, Any]) -> list[bytes]:
        path = options["secret_file"]
        if path:
            try:
                text = path.read_text()
            except OSError as error:
                raise _usage(
                    _("cannot read %(path)s: %(error)s") % {"path": path, "error": error.strerror}
                ) from None
        else:
            text = env_secret("TILLIT_PARTNER_SECRET")
        found = [line.strip() for line in text.splitlines() if line.strip()]
        if not found:
            raise _usage(_("no shared secret: --secret-file F, or TILLIT_PARTNER_SECRET"))
        if len(found) > MAX_SECRETS:
            raise _usage(_("at most two secrets (the new and the old, while rotating)"))
        return [s.encode() for s in found]


def _listen(text: str) -> tuple[str, int]:
    host, colon, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not colon or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise _usage(_("--listen must be HOST:PORT, for example 0.0.0.0:8099"))
    return host, int(port)


def _witness_under(url: str) -> Any:
    """The consent log's witness at this endpoint, if tillit's database is there to say."""
    try:
        return conformance.registered_witness(endpoint=url)
    except DatabaseError:
        return None
