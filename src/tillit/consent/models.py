"""The consent ledger: append-only evidence of every consent given, refused or withdrawn."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Action(models.TextChoices):
    GIVEN = "given", _("given")
    REFUSED = "refused", _("refused")
    WITHDRAWN = "withdrawn", _("withdrawn")


class AppendOnly(Exception):
    pass


class AppendOnlyModel(models.Model):
    """Evidence: rows are added, never changed or deleted."""

    class Meta:
        abstract = True

    def save(self, *args: object, **kwargs: object) -> None:
        if not self._state.adding:
            raise AppendOnly(f"{self._meta.verbose_name_plural} are never changed; append anew")
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise AppendOnly(f"{self._meta.verbose_name_plural} are never deleted")


class ConsentRecord(AppendOnlyModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subject = models.ForeignKey(
        "subjects.Subject",
        on_delete=models.PROTECT,
        related_name="consents",
        verbose_name=_("subject"),
    )
    receipt_id = models.UUIDField(_("receipt"), db_index=True)
    purpose = models.CharField(_("purpose"), max_length=40)
    lawful_basis = models.CharField(_("lawful basis"), max_length=30)
    action = models.CharField(_("action"), max_length=10, choices=Action.choices)
    policy_version = models.CharField(_("policy version"), max_length=40)
    # A hash of exactly what was shown: the consent text in the visitor's language + version.
    text_hash = models.CharField(_("hash of the text shown"), max_length=64)
    language = models.CharField(_("language"), max_length=5)
    method = models.CharField(_("how"), max_length=40)
    at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        ordering = ["at", "purpose"]
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")

    def __str__(self) -> str:
        return f"{self.purpose} {self.action} at {self.at:%Y-%m-%d %H:%M}"


class CookieAction(models.TextChoices):
    ACCEPT_ALL = "accept_all", _("accepted all")
    REJECT_ALL = "reject_all", _("rejected all")
    CUSTOM = "custom", _("chose some")
    WITHDRAW = "withdraw", _("withdrew")


class CookieSource(models.TextChoices):
    BANNER = "banner", _("the cookie dialog")
    SETTINGS = "settings", _("cookie settings")
    GPC = "gpc", _("Global Privacy Control signal")
    EMBED = "embed", _("a button for third-party content")


class CookieConsent(AppendOnlyModel):
    """One cookie choice, as proof: which categories were accepted and refused, under which
    banner text and policy, how and when. A random consent id (kept in the visitor's essential
    cookie) ties a browser's choices together; no IP address, no user agent, no person."""

    consent_id = models.UUIDField(_("consent id"), db_index=True)
    action = models.CharField(_("action"), max_length=12, choices=CookieAction.choices)
    source = models.CharField(_("where"), max_length=10, choices=CookieSource.choices)
    granted = models.JSONField(_("accepted"), default=list)
    refused = models.JSONField(_("refused"), default=list)
    banner_version = models.CharField(_("banner version"), max_length=16)
    policy_version = models.CharField(_("policy version"), max_length=40)
    language = models.CharField(_("language"), max_length=5)
    at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["at", "id"]
        verbose_name = _("cookie choice")
        verbose_name_plural = _("cookie choices")

    def __str__(self) -> str:
        return f"cookie choice {self.action} at {self.at:%Y-%m-%d %H:%M}"

    def as_proof(self) -> dict[str, object]:
        return {
            "consent_id": str(self.consent_id),
            "action": self.action,
            "source": self.source,
            "granted": self.granted,
            "refused": self.refused,
            "banner_version": self.banner_version,
            "policy_version": self.policy_version,
            "language": self.language,
            "at": self.at.isoformat(),
        }
