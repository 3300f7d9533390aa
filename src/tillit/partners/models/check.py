"""The conformance reports kept with each partner: one row for each run of the partner
check against its endpoint."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy

from tillit.partners.models.partner import Partner


class PartnerCheck(models.Model):
    """One run of the conformance suite against a partner's endpoint, kept with the partner:
    the endpoint it checked, whether it passed, and the suite's report as it gave it (opaque
    JSON: "passed", "endpoint" and "results", each {"id", "title", "outcome", "sent",
    "received", "required"}). It holds no personal data (the suite sends test identities
    only) and no secret. Written by partners/sandbox.record."""

    partner = models.ForeignKey(
        Partner,
        on_delete=models.CASCADE,
        related_name="checks",
        verbose_name=gettext_lazy("partner"),
    )
    ran_at = models.DateTimeField(gettext_lazy("ran at"), default=timezone.now)
    endpoint = models.URLField(gettext_lazy("endpoint"), max_length=500)
    passed = models.BooleanField(gettext_lazy("passed"))
    report = models.JSONField(gettext_lazy("report"))

    class Meta:
        verbose_name = gettext_lazy("conformance report")
        verbose_name_plural = gettext_lazy("conformance reports")
        ordering = ["-ran_at", "-id"]
        indexes = [models.Index(fields=["partner", "-ran_at"], name="partner_check_latest")]

    def __str__(self) -> str:
        return f"check of {self.partner_id} at {self.ran_at:%Y-%m-%d %H:%M} ({self.passed})"

    def results(self) -> list[dict[str, Any]]:
        found = self.report.get("results") if isinstance(self.report, dict) else None
        return [r for r in found or [] if isinstance(r, dict)]

    def failures(self) -> list[dict[str, Any]]:
        return [r for r in self.results() if r.get("outcome") == "fail"]

    def counts(self) -> dict[str, int]:
        """How many checks passed, failed and were skipped."""
        outcomes = [r.get("outcome") for r in self.results()]
        return {outcome: outcomes.count(outcome) for outcome in ("pass", "fail", "skip")}

    def checked_endpoint(self, endpoint: str) -> bool:
        """This report is about `endpoint` (a trailing slash aside)."""
        return self.endpoint.rstrip("/") == endpoint.rstrip("/")
