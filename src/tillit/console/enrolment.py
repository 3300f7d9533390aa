"""Staff enrolment in the browser: an administrator invites by e-mail, the invitee sets a
password and an authenticator through a one-time link and gets recovery codes, shown once; a
lost authenticator is reset by an administrator, the person told by e-mail. No step needs a
shell (`tillit staff` still does each from one).

The link's token is made by the worker as it sends the e-mail, and only its hash is kept; the
first browser that opens the link and presses Start claims it (a link scanner that only
fetches the page claims nothing); after five wrong passwords or codes the link stops working.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy
from django_otp.plugins.otp_totp.models import TOTPDevice

from tillit.audit.models import record
from tillit.console import roles
from tillit.console.models import (
    CODE_ALPHABET,
    CODE_LENGTH,
    MAX_FAILURES,
    Invitation,
    LinkKind,
    RecoveryCode,
    RecoveryCodes,
    StaffProfile,
    digest,
)

RECOVERY_CODES = 10
SESSION_KEY = "console_enrolment"


class Refused(Exception):
    """A link that cannot be used (unknown, expired, used, claimed elsewhere, worn out)."""


class TooSoon(Exception):
    """A code tried again within the authenticator's back-off after a wrong one."""


@dataclass
class Secret:
    """The authenticator being enrolled: its otpauth:// link and the key as typed by hand."""

    otpauth: str
    key: str


def invite(user: Any, role: str, language: str, *, by: str) -> Invitation:
    """A new staff member (`user` made, not saved) who can do nothing yet, in one role, and
    the link that will enrol them."""
    if role not in roles.ROLES:
        raise ValueError(f"no role {role!r}")
    if not user.email:
        raise ValueError("an invitation needs an e-mail address")
    with transaction.atomic():
        user.is_staff, user.is_superuser = True, False
        user.set_unusable_password()
        user.save()
        user.groups.add(Group.objects.get(name=role))
        StaffProfile.objects.create(user=user, language=language)
        record("staff.invited", actor=by, target=f"staff:{user.pk}", role=role)
        return new_link(user, LinkKind.INVITE, by=by)


def new_link(user: Any, kind: str, *, by: str) -> Invitation:
    """A new one-time link for the user, replacing any earlier one, e-mailed by the worker.
    The authenticator and recovery codes stop at once (a lost phone signs in no more), and so
    does the password for a new invitation; an earlier link's half-made authenticator goes
    too, so nobody who saw its key shares the new one."""
    from tillit.console import tasks

    with transaction.atomic():
        user.invitations.all().delete()
        TOTPDevice.objects.filter(user=user).delete()
        RecoveryCodes.objects.filter(user=user).delete()
        if kind == LinkKind.INVITE:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        action = "staff.otp_reset" if kind == LinkKind.RESET else "staff.link_made"
        record(action, actor=by, target=f"staff:{user.pk}")
        hours = settings.STAFF_LINK_HOURS
        link = Invitation.objects.create(
            user=user, kind=kind, made_by=by, expires_at=timezone.now() + timedelta(hours=hours)
        )
        tasks.send_link.enqueue(str(link.id))  # in the same transaction (the database queue)
    return link


def by_token(token: str) -> Invitation:
    link = None
    if token.isascii() and 16 <= len(token) <= 64:
        link = Invitation.objects.select_related("user").filter(token_hash=digest(token)).first()
    if link is None or not link.usable:
        raise Refused
    return link


def claim(token: str, session: Any) -> Invitation:
    """The link for this browser alone: its session holds a random claim, the link its hash."""
    link = by_token(token)
    if link.claim_hash:
        raise Refused
    value = secrets.token_urlsafe(20)
    won = Invitation.objects.filter(id=link.id, claim_hash="").update(claim_hash=digest(value))
    if not won:
        raise Refused
    session[SESSION_KEY] = value
    record("staff.link_opened", actor=f"staff:{link.user_id}", target=f"staff:{link.user_id}")
    return link


def claimed(session: Any) -> Invitation:
    """The link this browser claimed, if it can still be used."""
    value = session.get(SESSION_KEY)
    link = None
    if isinstance(value, str) and value:
        link = Invitation.objects.select_related("user").filter(claim_hash=digest(value)).first()
    if link is None or not link.usable:
        raise Refused
    return link


def failed(link: Invitation) -> int:
    """One more wrong password or code; how many tries are left (counted in the database, so
    that tries sent at once count one each)."""
    Invitation.objects.filter(id=link.id).update(failures=F("failures") + 1)
    link.failures = Invitation.objects.values_list("failures", flat=True).get(id=link.id)
    if link.failures == MAX_FAILURES:
        record("staff.link_worn_out", actor=f"staff:{link.user_id}", target=f"staff:{link.user_id}")
    return max(MAX_FAILURES - link.failures, 0)


def proven(link: Invitation, password: str | None = None) -> None:
    """The first step is done: a new password set (an invitation) or the old one given (a
    reset)."""
    with transaction.atomic():
        if password is not None:
            link.user.set_password(password)
            link.user.save(update_fields=["password"])
            record("staff.password_set", actor=f"staff:{link.user_id}")
        link.proven_at = timezone.now()
        link.save(update_fields=["proven_at"])


def authenticator(link: Invitation) -> Secret:
    """The authenticator waiting to be confirmed (made on first sight of this step)."""
    device = TOTPDevice.objects.filter(user=link.user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=link.user, name="authenticator", confirmed=False)
    return Secret(str(device.config_url), b32(device.bin_key))


def b32(key: bytes) -> str:
    from base64 import b32encode

    text = b32encode(key).decode().rstrip("=")
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def confirm(link: Invitation, code: str) -> list[str] | None:
    """The code from the new authenticator: if right, the authenticator replaces any old one,
    new recovery codes replace old ones, the link is used, and the codes are returned (to be
    shown once). None if the code is wrong; TooSoon within the back-off after a wrong one."""
    device = TOTPDevice.objects.filter(user=link.user, confirmed=False).first()
    if device is None:
        return None
    if not device.verify_is_allowed()[0]:
        raise TooSoon
    if not code.strip().isdigit() or not device.verify_token(code.strip()):
        return None
    with transaction.atomic():
        TOTPDevice.objects.filter(user=link.user).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = recovery_codes(link.user)
        link.used_at = timezone.now()
        link.save(update_fields=["used_at"])
        record("staff.enrolled", actor=f"staff:{link.user_id}", kind=link.kind)
    return codes


def recovery_codes(user: Any) -> list[str]:
    """Ten new recovery codes for the user (the old ones stop working); only hashes kept."""
    RecoveryCodes.objects.filter(user=user).delete()
    device = RecoveryCodes.objects.create(user=user, name="recovery codes", confirmed=True)
    codes = [
        "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        for _ in range(RECOVERY_CODES)
    ]
    RecoveryCode.objects.bulk_create(
        RecoveryCode(device=device, code_hash=digest(c)) for c in codes
    )
    return [f"{c[:5]}-{c[5:]}" for c in codes]


STATES = {
    "enrolled": gettext_lazy("enrolled"),
    "sent": gettext_lazy("link sent"),
    "waiting": gettext_lazy("link waiting to be sent"),
    "expired": gettext_lazy("link expired: send a new one"),
    "none": gettext_lazy("no authenticator: send a link"),
}


def state(user: Any) -> str:
    """Where a staff member stands (a key of STATES)."""
    link = user.invitations.order_by("-made_at").first()
    if link is not None and link.usable:
        return "sent" if link.sent_at else "waiting"
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        return "enrolled"
    return "expired" if link is not None else "none"
