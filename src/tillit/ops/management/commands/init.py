from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _

from tillit import datamap
from tillit.audit.models import record
from tillit.partners.models import Partner
from tillit.vault import keys

DEMO_PARTNER = "demo-partner"
# The reference partner's default witness name (PARTNER_WITNESS_NAME).
DEMO_WITNESS = "witness.demo-partner.example"


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


class Command(BaseCommand):
    help = (
        "Make the data directory: secret key and keyring (readable by the owner only), the "
        "database, and an administrator. With --demo, also the reference partner. Safe to "
        "run again: it only adds what is missing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--demo", action="store_true")
        parser.add_argument("--partner-port", type=int, default=8001)

    # The checks it would run are the ones it exists to satisfy.
    requires_system_checks: list[str] = []

    def handle(self, *args: object, **options: Any) -> None:
        settings.DATA_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
        if settings.SECRET_KEY_MISSING:
            value = secrets.token_urlsafe(50)
            write_private(settings.SECRET_KEY_FILE, value)
            settings.SECRET_KEY = value
            settings.SECRET_KEY_MISSING = False
            self.stdout.write(
                _("made a secret key in %(file)s") % {"file": settings.SECRET_KEY_FILE}
            )
        if not settings.KEK_FILE.exists():
            keys.write(keys.generate())
            self.stdout.write(
                _(
                    "made a keyring in %(file)s (back it up: without it nothing waiting for "
                    "delivery can be read)"
                )
                % {"file": settings.KEK_FILE}
            )
        call_command("migrate", interactive=False, verbosity=0)
        self.ensure_log_key()
        call_command("collectstatic", interactive=False, verbosity=0)
        self.ensure_admin(options["demo"])
        if options["demo"]:
            self.ensure_demo_partner(options["partner_port"])
            self.ensure_demo_witness(options["partner_port"])
        self.ensure_policy()

    def ensure_admin(self, demo: bool) -> None:
        """The first administrator (and, in demo mode, one staff member per role), each with a
        password and an authenticator. In demo mode the sign-in details are also written to
        demo/staff.txt, which `tillit run --demo` prints."""
        from tillit.console import roles, staff

        if Group.objects.filter(name=roles.ADMINISTRATOR, user__isnull=False).exists():
            return
        wanted = [("admin", roles.ADMINISTRATOR)]
        if demo:
            wanted += [("personvern", roles.PRIVACY_OFFICER), ("kundeservice", roles.SUPPORT)]
        # demo/staff.txt is a file `tillit run --demo` shows and scripts read: it stays as it is,
        # whatever language made it.
        lines = []
        for username, role in wanted:
            older = staff.adopt(username, role)
            if older is not None:  # a user from before roles and authenticators
                lines.append(f"{username} ({role}): the password it had")
                self.stdout.write(
                    _(
                        "gave the existing user '%(username)s' the role %(role)s (no longer a "
                        "superuser)"
                    )
                    % {"username": username, "role": role}
                )
                if older:
                    self.stdout.write(
                        "  "
                        + _("its new authenticator (shown once): %(otpauth)s") % {"otpauth": older}
                    )
                continue
            made = staff.create(username, role)
            lines.append(f"{username} ({role}): password {made.password}")
            self.stdout.write(
                _(
                    "made the %(role)s '%(username)s' with password %(password)s (shown once; "
                    "change it with 'tillit changepassword %(username)s')"
                )
                % {"role": role, "username": username, "password": made.password}
            )
            self.stdout.write(
                "  " + _("its authenticator (shown once): %(otpauth)s") % {"otpauth": made.otpauth}
            )
        if demo:
            write_private(settings.DATA_DIR / "demo" / "staff.txt", "\n".join(lines) + "\n")
        else:
            self.stdout.write(
                "  " + _("(or run 'tillit staff reset-otp admin' to see it as a QR code)")
            )

    def ensure_log_key(self) -> None:
        """The consent log's signing key; its public half is registered in the database."""
        from tillit.audit import logkey

        keys, made = logkey.ensure()
        if made:
            self.stdout.write(
                _(
                    "made the consent log's signing key in %(file)s (back it up with the "
                    "keyring); its verifier key: %(key)s"
                )
                % {"file": settings.LOG_KEY_FILE, "key": keys.active.vkey}
            )

    def ensure_policy(self) -> None:
        """The first published version of the privacy policy, from the data map."""
        from tillit.policy import versions

        if versions.current() is None:
            first = versions.publish(
                "Første versjon.", "First version.", actor="cli", material=False
            )
            self.stdout.write(
                _("published version %(number)s of the privacy policy") % {"number": first.number}
            )

    def ensure_demo_witness(self, port: int) -> None:
        """The demo partner witnesses the consent log: it is given the log's verifier key (its
        witness-logs file) and its own witness key, which tillit registers as a witness."""
        from tillit_partner import note

        from tillit.audit import logkey
        from tillit.audit.models import Witness

        partner_dir = settings.DATA_DIR / "demo" / "partner"
        write_private(partner_dir / "witness-logs", logkey.load().active.vkey + "\n")
        key_file = partner_dir / "witness.key"
        if not key_file.exists():
            write_private(key_file, note.Cosigner.generate(DEMO_WITNESS).skey + "\n")
        cosigner = note.Cosigner.from_skey(key_file.read_text().strip())
        _witness, made = Witness.objects.update_or_create(
            name=cosigner.name,
            defaults={
                "url": f"http://127.0.0.1:{port}/witness",
                "vkey": cosigner.vkey,
                "partner": Partner.objects.filter(slug=DEMO_PARTNER).first(),
                "active": True,
            },
        )
        if made:
            record("log.witness_added", actor="cli", target=f"witness:{cosigner.name}")
            self.stdout.write(
                _("the demo partner witnesses the consent log as %(name)s")
                % {"name": cosigner.name}
            )

    def ensure_demo_partner(self, port: int) -> None:
        endpoint = f"http://127.0.0.1:{port}"
        # Another host name for the same partner: in the browser its page is a third party,
        # with a cookie jar of its own (cookies do not tell ports apart).
        embed_url = f"http://localhost:{port}/embed"
        partner = Partner.objects.filter(slug=DEMO_PARTNER).first()
        secret_file = settings.DATA_DIR / "demo" / "partner" / "secret"
        if partner is None:
            today = dt.date.today()
            partner = Partner.objects.create(
                slug=DEMO_PARTNER,
                name="Demo Megler AS",
                endpoint=endpoint,
                privacy_policy_url=f"{endpoint}/privacy",
                embed_url=embed_url,
                countries=datamap.load().countries,
                dpa_signed_on=today,
                dpa_reference="demo DPA (not a real agreement)",
                compliance_attested_on=today,
            )
            write_private(secret_file, partner.set_secret())
            record("partner.added", actor="cli", target=f"partner:{DEMO_PARTNER}")
            self.stdout.write(_("registered the demo partner at %(url)s") % {"url": endpoint})
        elif partner.endpoint != endpoint:
            Partner.objects.filter(pk=partner.pk).update(
                endpoint=endpoint, privacy_policy_url=f"{endpoint}/privacy", embed_url=embed_url
            )
