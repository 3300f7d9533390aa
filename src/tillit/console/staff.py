"""Staff accounts: a user in one role, with a password and an authenticator (TOTP) from the
start, so that nobody can sign in with a password alone."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils.translation import gettext as _
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tillit.audit.models import record
from tillit.console import roles


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
