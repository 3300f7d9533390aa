"""Staff accounts: a user in one role, with a password and an authenticator (TOTP) from the
start, so that nobody can sign in with a password alone."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import models, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tillit.audit.models import record
from tillit.console import roles
from tillit.core.lifecycle import Lifecycle, Move, Refused


class AccountState(models.TextChoices):
    """Where a staff account stands, read from Django's user and its authenticator."""

    INVITED = "invited", gettext_lazy("waiting to enrol (no authenticator yet)")
    ACTIVE = "active", gettext_lazy("active")
    DISABLED = "disabled", gettext_lazy("disabled")


# A staff account's state is not a column either: it is `is_active` and whether a confirmed
# authenticator exists. Enabling and disabling are a conditional UPDATE of `is_active`
# (`set_active`); the authenticator moves are made by enrolment.py, which deletes and creates
# devices in one transaction with their event. A lockout (django-axes: too many failed sign-ins
# for a name from an address, for a while) is not a state of the account: it is kept apart,
# per address, and lifted by time or `tillit staff unlock` (staff.locked_out, staff.unlocked).
STAFF = Lifecycle(
    "auth.User",
    AccountState,
    # Invited from the console or `tillit staff invite`; active at once by `tillit staff add`.
    initial=[AccountState.INVITED, AccountState.ACTIVE],
    moves=[
        Move("enrol", (AccountState.INVITED,), AccountState.ACTIVE, event="staff.enrolled"),
        # A new link stops the authenticator at once (a lost phone signs in no more).
        Move("new_invitation", (AccountState.INVITED, AccountState.ACTIVE),
             AccountState.INVITED, event="staff.link_made"),
        Move("reset_authenticator", (AccountState.INVITED, AccountState.ACTIVE),
             AccountState.INVITED, event="staff.otp_reset"),
        # `tillit staff reset-otp`: the new authenticator is shown in the shell, at once.
        Move("new_authenticator", (AccountState.INVITED, AccountState.ACTIVE),
             AccountState.ACTIVE, event="staff.otp_reset"),
        Move("disable", (AccountState.INVITED, AccountState.ACTIVE), AccountState.DISABLED,
             event="staff.disabled"),
        Move("enable", (AccountState.DISABLED,), AccountState.ACTIVE, event="staff.enabled"),
        Move("enable_unenrolled", (AccountState.DISABLED,), AccountState.INVITED,
             event="staff.enabled"),
    ],
)  # fmt: skip


def with_account_state(users: models.QuerySet[Any]) -> models.QuerySet[Any]:
    """Each user's AccountState as the column `state` (for values(), and the model checks)."""
    enrolled = TOTPDevice.objects.filter(user=models.OuterRef("pk"), confirmed=True)
    return users.annotate(
        state=models.Case(
            models.When(is_active=False, then=models.Value(str(AccountState.DISABLED))),
            models.When(models.Exists(enrolled), then=models.Value(str(AccountState.ACTIVE))),
            default=models.Value(str(AccountState.INVITED)),
            output_field=models.CharField(),
        )
    )


def account_state(user: Any) -> str:
    return str(with_account_state(get_user_model().objects.filter(pk=user.pk)).values_list(
        "state", flat=True).get())  # fmt: skip


def set_active(user: Any, active: bool, actor: str) -> bool:
    """Enable or disable a staff account, audited: a disabled account cannot sign in, and
    its open link stops working. False when it was so already (nothing is recorded)."""
    state = account_state(user)
    if active:
        enrolled = TOTPDevice.objects.filter(user=user, confirmed=True).exists()
        name = "enable" if enrolled else "enable_unenrolled"
    else:
        name = "disable"
    if not STAFF.allows(state, name):
        if (state == AccountState.DISABLED) != active:
            return False  # so already
        raise Refused(STAFF, STAFF.move(name), state)
    with transaction.atomic():
        users = get_user_model().objects.filter(pk=user.pk, is_active=not active)
        if not users.update(is_active=active):
            return False  # another caller was first
        record(STAFF.move(name).event, actor=actor, target=f"staff:{user.pk}")
    user.is_active = active
    return True


@dataclass
class Enrolment:
    """What the new staff member needs, shown once: the password and the authenticator's
    otpauth:// link (as text and as a QR code)."""

    username: str
    password: str
    otpauth: str


def enrol_device(user: Any) -> str:
    """A new authenticator for the user (replacing any old one, its recovery codes and any open
    link, as the console's reset does); its otpauth:// URL."""
    from tillit.console.models import RecoveryCodes

    TOTPDevice.objects.filter(user=user).delete()
    RecoveryCodes.objects.filter(user=user).delete()
    user.invitations.all().delete()
    device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    return str(device.config_url)


def create(username: str, role: str, email: str = "", password: str | None = None) -> Enrolment:
    if role not in roles.ROLES:
        raise ValueError(
            _("no role %(role)s; choose one of %(roles)s")
            % {"role": repr(role), "roles": ", ".join(roles.ROLES)}
        )
    User = get_user_model()
    if User.objects.filter(username=username).exists():
        raise ValueError(_("there is already a user %(username)s") % {"username": repr(username)})
    password = password or secrets.token_urlsafe(12)
    with transaction.atomic():
        user = User.objects.create_user(username, email or None, password, is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        otpauth = enrol_device(user)
        record("staff.created", actor="cli", target=f"staff:{user.pk}", role=role)
    return Enrolment(username, password, otpauth)


def adopt(username: str, role: str) -> str | None:
    """An installation made before roles: its user keeps its password, loses the superuser
    flag, gets the role and (if it has none) an authenticator, whose otpauth:// URL is
    returned; "" if it had one; None if there is no such user."""
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        return None
    with transaction.atomic():
        user.is_superuser, user.is_staff = False, True
        user.save(update_fields=["is_superuser", "is_staff"])
        user.groups.add(Group.objects.get(name=role))
        otpauth = "" if TOTPDevice.objects.filter(user=user).exists() else enrol_device(user)
        record("staff.role_changed", actor="cli", target=f"staff:{user.pk}", role=role)
    return otpauth


def current_code(user: Any) -> str:
    """The code the user's authenticator shows now (demo mode and tests only)."""
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    value = totp(device.bin_key, device.step, device.t0, device.digits, 0)
    return f"{value:0{device.digits}d}"
