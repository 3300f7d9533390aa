"""What the console keeps about staff besides Django's user: the language each reads the
console in, the one-time links that enrol them (console/enrolment.py), and their recovery
codes, kept as hashes only; with what a recovery code looks like and how many wrong tries a
link allows."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy
from django_otp.models import Device, ThrottlingMixin


def digest(secret: str) -> str:
    """The hash kept for a one-time link or a recovery code (each holds 160 or 50 random
    bits, so a fast hash is enough: no dictionary can guess them)."""
    return hashlib.sha256(secret.encode()).hexdigest()


# Letters and digits that cannot be read one for another (no 0/o, 1/l/i).
CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
CODE_LENGTH = 10
# Wrong passwords or codes after which a one-time link stops working.
MAX_FAILURES = 5


def normal_code(typed: str) -> str:
    """A recovery code as kept (no dash, no spaces, lower case); "" if it cannot be one."""
    code = "".join(typed.split()).replace("-", "").lower()
    if len(code) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in code):
        return ""
    return code


class StaffProfile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profile"
    )
    language = models.CharField(max_length=8, choices=settings.LANGUAGES, default="en")

    def __str__(self) -> str:
        return f"profile of staff:{self.user_id}"


def language_of(user: Any) -> str:
    """The language a staff member reads the console and its e-mails in."""
    found = StaffProfile.objects.filter(user=user).values_list("language", flat=True).first()
    return found or settings.CONSOLE_LANGUAGE


class LinkKind(models.TextChoices):
    INVITE = "invite", gettext_lazy("invitation")  # a password and an authenticator
    RESET = "reset", gettext_lazy("new authenticator")  # the password is kept and asked for


class Invitation(models.Model):
    """One staff member's one-time enrolment link: made by an administrator, e-mailed by the
    worker (which makes the token and keeps its hash only), claimed by the first browser that
    opens it and presses Start, used once the authenticator is confirmed. It expires, and a
    new link for the same person replaces it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invitations"
    )
    kind = models.CharField(max_length=8, choices=LinkKind.choices)
    made_by = models.CharField(max_length=40)
    made_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    token_hash = models.CharField(max_length=64, blank=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    claim_hash = models.CharField(max_length=64, blank=True)
    proven_at = models.DateTimeField(null=True, blank=True)  # password set (or given, reset)
    failures = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.kind} link for staff:{self.user_id}"

    @property
    def open(self) -> bool:
        return self.used_at is None and self.expires_at > timezone.now()

    @property
    def usable(self) -> bool:
        """Open, not worn out by wrong tries, for a person who may still sign in."""
        return self.open and self.failures < MAX_FAILURES and self.user.is_active

    def issue_token(self) -> str:
        """The link's token (made as its e-mail is sent; a resend makes a new one)."""
        token = secrets.token_urlsafe(20)
        self.token_hash = digest(token)
        self.sent_at = timezone.now()
        self.save(update_fields=["token_hash", "sent_at"])
        return token


class RecoveryCodes(ThrottlingMixin, Device):
    """A staff member's recovery codes as one django-otp device: each code signs in once, in
    place of the authenticator's code. Only their hashes are kept."""

    def verify_token(self, token: Any) -> bool:
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        code = normal_code(str(token))
        with transaction.atomic():
            won = code and RecoveryCode.objects.filter(device=self, code_hash=digest(code)).delete()
        if won and won[0] == 1:
            self.throttle_reset()
            return True
        self.throttle_increment()
        return False

    def left(self) -> int:
        return self.codes.count()

    def get_throttle_factor(self) -> int:
        return 1


class RecoveryCode(models.Model):
    device = models.ForeignKey(RecoveryCodes, on_delete=models.CASCADE, related_name="codes")
    code_hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"recovery code of device {self.device_id}"
