"""Published versions of the privacy policy: immutable, numbered, dated, hashed, each with a
summary of what changed. The policy's content is kept as it was published (a snapshot of the
data map and the active partners), so an old version reads exactly as people saw it."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tillit.consent.models import AppendOnlyModel


class PolicyVersion(AppendOnlyModel):
    number = models.PositiveIntegerField(_("number"), unique=True)
    published_at = models.DateTimeField(_("published at"), default=timezone.now)
    published_by = models.CharField(_("published by"), max_length=40)
    summary_nb = models.TextField(_("what changed (bokmål)"), max_length=2000)
    summary_en = models.TextField(_("what changed (English)"), max_length=2000)
    material = models.BooleanField(
        _("material"),
        default=True,
        help_text=_("A change people must be told of when they come back."),
    )
    content = models.JSONField(_("content"))
    text_hash = models.CharField(_("text hash"), max_length=64)

    class Meta:
        ordering = ["-number"]
        verbose_name = _("policy version")
        verbose_name_plural = _("policy versions")

    def __str__(self) -> str:
        return f"version {self.number}"

    @property
    def label(self) -> str:
        """What consent records name: the version number."""
        return str(self.number)
