from __future__ import annotations

import datetime as dt
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from tillit.audit.models import record
from tillit.partners import sandbox
from tillit.partners.models import DEFAULT_SECRET_OVERLAP_HOURS as DEFAULT_OVERLAP_HOURS
from tillit.partners.models import Partner, PartnerCheck, overlap_text


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(
            _("%(value)s is not a date (YYYY-MM-DD)") % {"value": repr(value)}
        ) from None


def _hours(value: str) -> float:
    try:
        hours = float(value)
    except ValueError:
        hours = -1
    if not 0 <= hours <= 24 * 7:
        raise CommandError(
            _("%(value)s is not a number of hours from 0 to 168 (a week)") % {"value": repr(value)}
        )
    return hours


def _when(moment: dt.datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%MZ") if moment else "-"


def _add_parser(sub: Any) -> None:
    """`partners add`: the partner, where it is reached and how it takes rights requests."""
    add = sub.add_parser("add", help="register a partner and print its signing secret once")
    add.add_argument("slug")
    add.add_argument("--name", required=True)
    add.add_argument("--endpoint", required=True, help="base URL; leads go to <endpoint>/leads")
    add.add_argument("--privacy-url", required=True, help="the partner's privacy policy")
    add.add_argument(
        "--embed-url",
        default="",
        help="a page of the partner's the welcome page may show (after third-party consent)",
    )
    add.add_argument(
        "--privacy-email", default="", help="the partner's privacy contact (an e-mail address)"
    )
    add.add_argument(
        "--language",
        choices=["nb", "en"],
        default="en",
        help="the language of the e-mails to the partner's privacy contact (default en)",
    )
    add.add_argument(
        "--no-rights-api",
        dest="rights_api",
        action="store_false",
        help="the partner has no OpenDSR rights API: rights requests go to --privacy-email "
        "with a one-time link to answer",
    )
    _add_terms(add)


def _add_terms(add: CommandParser) -> None:
    """`partners add`: the leads it takes, its agreements, its secret and whether it starts
    live."""
    add.add_argument("--countries", required=True, help="comma-separated, e.g. NO,SE")
    add.add_argument("--weight", type=int, default=100)
    add.add_argument("--daily-cap", type=int, default=None)
    add.add_argument("--dpa-signed-on", type=_date, default=None)
    add.add_argument("--dpa-reference", default="")
    add.add_argument("--compliance-attested-on", type=_date, default=None)
    add.add_argument(
        "--secret-file",
        type=Path,
        default=None,
        help="use the secret in this file instead of generating one",
    )
    add.add_argument(
        "--live",
        action="store_true",
        help="live at once, without a conformance report (for scripted set-ups of a partner "
        "known to work; needs the DPA and attestation dates). Without it the partner starts "
        "in testing: `tillit partner-check --partner SLUG`, then `partners go-live SLUG`",
    )


def _rotate_parser(sub: Any) -> None:
    """`partners rotate-secret`: the partner, and how long its old secret stays good."""
    rotate = sub.add_parser(
        "rotate-secret",
        help="give a partner a new signing secret (printed once); the old one stays good "
        "for --overlap-hours",
    )
    rotate.add_argument("slug")
    rotate.add_argument(
        "--overlap-hours",
        type=_hours,
        default=DEFAULT_OVERLAP_HOURS,
        help="hours the old secret stays good, so the partner can switch without a gap "
        f"(default {DEFAULT_OVERLAP_HOURS}; 0 shreds it at once, as after a leak)",
    )
    rotate.add_argument(
        "--secret-file",
        type=Path,
        default=None,
        help="use the secret in this file instead of generating one",
    )


class Command(BaseCommand):
    help = "Manage partners: add, list, go-live, testing, rotate-secret, disable, enable."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        _add_parser(sub)
        _rotate_parser(sub)
        sub.add_parser("list", help="list partners, their state and their last conformance check")
        for name, does in (
            ("disable", "pause a partner: it is sent nothing new"),
            ("enable", "resume a paused partner"),
            ("go-live", "make a partner in testing live, or print what keeps it from it (exit 1)"),
            ("testing", "put a partner (back) in testing: nobody new is assigned to it"),
        ):
            p = sub.add_parser(name, help=does)
            p.add_argument("slug")

    def handle(self, *args: object, **options: Any) -> None:
        getattr(self, f"handle_{options['action'].replace('-', '_')}")(options)

    def handle_add(self, o: dict[str, Any]) -> None:
        partner = Partner(
            slug=o["slug"],
            name=o["name"],
            endpoint=o["endpoint"].rstrip("/"),
            privacy_policy_url=o["privacy_url"],
            embed_url=o["embed_url"],
            privacy_email=o["privacy_email"],
            language=o["language"],
            rights_api=o["rights_api"],
            countries=[c.strip().upper() for c in o["countries"].split(",") if c.strip()],
            weight=o["weight"],
            daily_cap=o["daily_cap"],
            dpa_signed_on=o["dpa_signed_on"],
            dpa_reference=o["dpa_reference"],
            compliance_attested_on=o["compliance_attested_on"],
            testing=not o["live"],
        )
        try:
            partner.full_clean(exclude=["secret_envelope"])  # runs clean() as well
        except ValidationError as error:
            raise CommandError(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in error.message_dict.items())
            ) from None
        if not partner.endpoint_is_safe():
            raise CommandError(_("the endpoint must be https (http only to 127.0.0.1/localhost)"))
        if o["live"] and not partner.has_agreements():
            raise CommandError(_("--live needs --dpa-signed-on and --compliance-attested-on (P18)"))
        partner.save()
        secret = o["secret_file"].read_text().strip() if o["secret_file"] else None
        secret = partner.set_secret(secret)
        # A partner made live here never had a conformance report: the audit log says so.
        unchecked = {} if partner.testing else {"unchecked": True}
        record(
            "partner.added",
            actor="cli",
            target=f"partner:{partner.slug}",
            testing=partner.testing,
            **unchecked,
        )
        self.stdout.write(_("added %(slug)s") % {"slug": partner.slug})
        if not o["secret_file"]:
            self.show_secret(secret)
        if partner.testing:
            self.stdout.write(
                _(
                    "it is in testing: it gets only the conformance suite's traffic until "
                    "`tillit partners go-live %(slug)s`"
                )
                % {"slug": partner.slug}
            )
        else:
            self.stdout.write(_("it is live at once, without a conformance report"))

    def show_secret(self, secret: str) -> None:
        self.stdout.write(
            _("signing secret (shown once; give it to the partner): %(secret)s")
            % {"secret": secret}
        )

    def handle_rotate_secret(self, o: dict[str, Any]) -> None:
        partner = Partner.objects.filter(slug=o["slug"]).first()
        if partner is None:
            raise CommandError(_("no partner %(slug)s") % {"slug": repr(o["slug"])})
        given = o["secret_file"].read_text().strip() if o["secret_file"] else None
        if partner.in_overlap():
            self.stdout.write(
                _(
                    "note: the secret from before the last rotation was still good; it is "
                    "shredded now"
                )
            )
        secret = partner.set_secret(given, overlap=timedelta(hours=o["overlap_hours"]))
        record(
            "partner.secret_rotated",
            actor="cli",
            target=f"partner:{partner.slug}",
            overlap_hours=o["overlap_hours"],
        )
        self.stdout.write(_("%(slug)s: new signing secret in use") % {"slug": partner.slug})
        if not given:
            self.show_secret(secret)
        self.stdout.write(overlap_text(partner))

    def handle_list(self, o: dict[str, Any]) -> None:
        for p in Partner.objects.all():
            # The key=value fields are for scripts too, and stay as they are.
            state = str(p.state.label)
            agreements = _("DPA+compliance") if p.has_agreements() else _("NO DPA/compliance")
            rotating = (
                f" old-secret-until={_when(p.previous_secret_until)}" if p.in_overlap() else ""
            )
            self.stdout.write(
                f"{p.slug:20} {state:9} {agreements:17} {','.join(p.countries):20}"
                f" weight={p.weight} cap={p.daily_cap or '-'} {p.endpoint}"
                f" rights={'api' if p.rights_api else 'e-mail'}{rotating}"
                f" check={_check(p.last_check())}"
            )

    def handle_disable(self, o: dict[str, Any]) -> None:
        self._set_active(o["slug"], False)

    def handle_enable(self, o: dict[str, Any]) -> None:
        self._set_active(o["slug"], True)

    def _set_active(self, slug: str, active: bool) -> None:
        sandbox.set_active(_partner(slug), active, "cli")  # nothing when it was so already
        said = _("%(slug)s enabled") if active else _("%(slug)s disabled")
        self.stdout.write(said % {"slug": slug})
        if active and Partner.objects.filter(slug=slug, testing=True).exists():
            self.stdout.write(
                _("note: it is in testing, so it receives no leads until it goes live")
            )

    def handle_go_live(self, o: dict[str, Any]) -> None:
        partner = _partner(o["slug"])
        try:
            went = sandbox.go_live(partner, "cli")
        except sandbox.CannotGoLive as refusal:
            lines = [_("%(slug)s stays in testing:") % {"slug": partner.slug}]
            raise CommandError("\n".join([*lines, *(f"- {b}" for b in refusal.blockers)])) from None
        said = _("%(slug)s is live: it receives leads") if went else _("%(slug)s is live already")
        self.stdout.write(said % {"slug": partner.slug})

    def handle_testing(self, o: dict[str, Any]) -> None:
        partner = _partner(o["slug"])
        moved = sandbox.to_testing(partner, "cli")
        said = (
            _("%(slug)s is in testing: nobody new is assigned to it")
            if moved
            else _("%(slug)s is in testing already")
        )
        self.stdout.write(said % {"slug": partner.slug})


def _partner(slug: str) -> Partner:
    partner = Partner.objects.filter(slug=slug).first()
    if partner is None:
        raise CommandError(_("no partner %(slug)s") % {"slug": repr(slug)})
    return partner


def _check(check: PartnerCheck | None) -> str:
    """The last conformance check, for `list`: passed@<when>, failed@<when>, or -."""
    if check is None:
        return "-"
    return f"{'passed' if check.passed else 'failed'}@{_when(check.ran_at)}"
