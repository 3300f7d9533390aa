from __future__ import annotations

from typing import Any

import segno
from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from tillit.audit.models import record
from tillit.console import enrolment, roles, staff

# The list's last column: where each staff member stands with their authenticator, a word each
# (the console says it at length, enrolment.STATES).
ENROLMENT = {
    "enrolled": pgettext_lazy("enrolment", "enrolled"),
    "sent": pgettext_lazy("enrolment", "sent"),
    "waiting": pgettext_lazy("enrolment", "waiting"),
    "expired": pgettext_lazy("enrolment", "expired"),
    "none": pgettext_lazy("enrolment", "none"),
}


class Command(BaseCommand):
    help = "Manage staff: add, invite, list, role, disable, enable, reset-otp, unlock, code (demo)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="add a staff member; prints the password and QR once")
        add.add_argument("username")
        add.add_argument("--role", required=True, choices=sorted(roles.ROLES))
        add.add_argument("--email", default="")
        invite = sub.add_parser("invite", help="e-mail a new staff member a one-time link")
        invite.add_argument("username")
        invite.add_argument("--role", required=True, choices=sorted(roles.ROLES))
        invite.add_argument("--email", required=True)
        invite.add_argument("--language", default=settings.CONSOLE_LANGUAGE, choices=["nb", "en"])
        sub.add_parser("list", help="list staff with their roles")
        role = sub.add_parser("role", help="set a staff member's role")
        role.add_argument("username")
        role.add_argument("role", choices=sorted(roles.ROLES))
        for name, text in (
            ("disable", "stop a staff member from signing in"),
            ("enable", "let a disabled staff member sign in again"),
            ("reset-otp", "a new authenticator for a lost phone (prints the QR once)"),
            ("unlock", "lift a lockout after failed sign-ins"),
            ("code", "print the current sign-in code (demo mode only)"),
        ):
            p = sub.add_parser(name, help=text)
            p.add_argument("username")

    def handle(self, *args: object, **o: Any) -> None:
        action = o["action"].replace("-", "_")
        getattr(self, f"handle_{action}")(o)

    def user(self, username: str) -> Any:
        found = get_user_model().objects.filter(username=username).first()
        if found is None:
            raise CommandError(_("no staff member %(username)s") % {"username": repr(username)})
        return found

    def show_enrolment(self, username: str, otpauth: str, password: str = "") -> None:
        if password:
            self.stdout.write(
                _("password for %(username)s (shown once): %(password)s")
                % {"username": username, "password": password}
            )
        self.stdout.write(
            _("add this to an authenticator app (shown once; scan the QR code or paste the link):")
        )
        self.stdout.write(otpauth)
        self.stdout.write(segno.make(otpauth, error="m").terminal(compact=True) or "")

    def handle_add(self, o: dict[str, Any]) -> None:
        try:
            made = staff.create(o["username"], o["role"], o["email"])
        except ValueError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            _("added %(username)s as %(role)s") % {"username": made.username, "role": o["role"]}
        )
        self.show_enrolment(made.username, made.otpauth, made.password)

    def handle_invite(self, o: dict[str, Any]) -> None:
        User = get_user_model()
        if User.objects.filter(username=o["username"]).exists():
            raise CommandError(
                _("there is already a user %(username)s") % {"username": repr(o["username"])}
            )
        try:
            validate_email(o["email"])
        except ValidationError:
            raise CommandError(_("that is not an e-mail address")) from None
        user = User(username=o["username"], email=o["email"])
        enrolment.invite(user, o["role"], o["language"], by="cli")
        self.stdout.write(
            _(
                "invited %(username)s as %(role)s: the worker e-mails the link, which works for "
                "%(hours)s hours"
            )
            % {"username": user.username, "role": o["role"], "hours": settings.STAFF_LINK_HOURS}
        )

    def handle_list(self, o: dict[str, Any]) -> None:
        for user in get_user_model().objects.filter(is_staff=True).order_by("username"):
            state = _("active") if user.is_active else _("disabled")
            role = ",".join(roles.of(user)) or "-"
            enrolled = ENROLMENT[enrolment.state(user)]
            self.stdout.write(f"{user.username:24} {state:9} {role:16} {enrolled}")

    def handle_role(self, o: dict[str, Any]) -> None:
        user = self.user(o["username"])
        user.groups.remove(*Group.objects.filter(name__in=roles.ROLES))
        user.groups.add(Group.objects.get(name=o["role"]))
        record("staff.role_changed", actor="cli", target=f"staff:{user.pk}", role=o["role"])
        self.stdout.write(
            _("%(username)s is now %(role)s") % {"username": user.username, "role": o["role"]}
        )

    def handle_disable(self, o: dict[str, Any]) -> None:
        self._set_active(o["username"], False)

    def handle_enable(self, o: dict[str, Any]) -> None:
        self._set_active(o["username"], True)

    def _set_active(self, username: str, active: bool) -> None:
        staff.set_active(self.user(username), active, "cli")  # nothing when it was so already
        said = _("%(username)s enabled") if active else _("%(username)s disabled")
        self.stdout.write(said % {"username": username})

    def handle_reset_otp(self, o: dict[str, Any]) -> None:
        user = self.user(o["username"])
        otpauth = staff.enrol_device(user)
        record("staff.otp_reset", actor="cli", target=f"staff:{user.pk}")
        self.show_enrolment(user.username, otpauth)

    def handle_unlock(self, o: dict[str, Any]) -> None:
        user = self.user(o["username"])
        lifted = axes_reset(username=user.username)
        record("staff.unlocked", actor="cli", target=f"staff:{user.pk}")
        self.stdout.write(
            _("%(username)s: %(count)s failed attempt(s) forgotten")
            % {"username": user.username, "count": lifted}
        )

    def handle_code(self, o: dict[str, Any]) -> None:
        if not (settings.DEMO or (settings.DATA_DIR / "demo" / "staff.txt").exists()):
            raise CommandError(_("codes are shown only in demo mode: use your authenticator app"))
        self.stdout.write(staff.current_code(self.user(o["username"])))
