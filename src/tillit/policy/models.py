"""Published versions of the privacy policy: immutable, numbered, dated, hashed, each with a
summary of what changed. The policy's content is kept as it was published (a snapshot of the
data map and the active partners), so an old version reads exactly as people saw it."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from tillit.consent.models import AppendOnlyModel


class PolicyVersion(AppendOnlyModel):
    number = models.PositiveIntegerField(unique=True)
    published_at = models.DateTimeField(default=timezone.now)
    published_by = models.CharField(max_length=40)
    summary_nb = models.TextField("what changed (bokmål)", max_length=2000)
    summary_en = models.TextField("what changed (English)", max_length=2000)
    material = models.BooleanField(
        default=True, help_text="A change people must be told of when they come back."
    )
    content = models.JSONField()
    text_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["-number"]
        verbose_name = "policy version"

    def __str__(self) -> str:
        return f"version {self.number}"

    @property
    def label(self) -> str:
        """What consent records name: the version number."""
        return str(self.number)
