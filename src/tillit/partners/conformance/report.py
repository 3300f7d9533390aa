"""What a partner check found: a result per check, and the report that holds them.

A result's texts are short, in the language the check ran in, and hold no secret and no
personal data: what was sent is described (test identities only), what came back is the
partner's status and at most a short piece of its answer, with every secret it might have
echoed blanked out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.utils.translation import gettext as _

PASS, FAIL, SKIP = "pass", "fail", "skip"
# The version of as_dict()'s shape: stored reports say which shape they have.
REPORT_VERSION = 1


@dataclass(frozen=True)
class Result:
    """One check's outcome. `sent`, `received` and `required` are set for a failure,
    `reason` for a skip; `detail` is what a pass or a failure has to add (the slowest answer,
    what the check saw)."""

    id: str
    title: str
    outcome: str
    sent: str = ""
    received: str = ""
    required: str = ""
    reason: str = ""
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.outcome == FAIL

    def as_dict(self) -> dict[str, str]:
        return {
            "id": self.id,
            "title": self.title,
            "outcome": self.outcome,
            "sent": self.sent,
            "received": self.received,
            "required": self.required,
            "reason": self.reason,
            "detail": self.detail,
        }


@dataclass
class Report:
    """A partner check: `passed` when no check failed (skipped ones are allowed)."""

    endpoint: str
    started_at: datetime
    finished_at: datetime
    results: list[Result] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not any(r.failed for r in self.results)

    def counts(self) -> dict[str, int]:
        return {kind: sum(r.outcome == kind for r in self.results) for kind in (PASS, FAIL, SKIP)}

    def result(self, check_id: str) -> Result:
        """The result of one check, by id (KeyError if it was not run)."""
        for result in self.results:
            if result.id == check_id:
                return result
        raise KeyError(check_id)

    def as_dict(self) -> dict[str, object]:
        """The report as JSON-able data with stable keys (`tillit partner-check --json`)."""
        return {
            "report_version": REPORT_VERSION,
            "endpoint": self.endpoint,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "passed": self.passed,
            "counts": self.counts(),
            "results": [r.as_dict() for r in self.results],
        }

    def text(self) -> str:
        """The report for a person: each check on a line, what failed and why under it."""
        seconds = (self.finished_at - self.started_at).total_seconds()
        lines = [
            _("Partner check of %(endpoint)s") % {"endpoint": self.endpoint},
            _("started %(start)s, took %(seconds).1f s")
            % {"start": self.started_at.strftime("%Y-%m-%d %H:%M:%S UTC"), "seconds": seconds},
            "",
        ]
        width = max((len(r.id) for r in self.results), default=0)
        labels = {PASS: _("PASS"), FAIL: _("FAIL"), SKIP: _("SKIP")}
        reason = ""
        for r in self.results:
            lines.append(f"{labels[r.outcome]:5} {r.id:{width}}  {r.title}")
            # Checks skipped for one reason (the endpoint is down) give it once.
            if r.outcome != SKIP or r.reason != reason:
                lines += _explained(r, " " * (6 + width + 2))
            reason = r.reason if r.outcome == SKIP else ""
        counts = self.counts()
        lines += [
            "",
            _("%(total)d checks: %(pass)d passed, %(fail)d failed, %(skip)d skipped.")
            % {"total": len(self.results), **counts},
            _("The partner passes.") if self.passed else _("The partner does not pass."),
        ]
        return "\n".join(lines) + "\n"


def _explained(result: Result, indent: str) -> list[str]:
    rows = []
    if result.outcome == FAIL:
        rows = [
            (_("sent"), result.sent),
            (_("received"), result.received),
            (_("required"), result.required),
            (_("note"), result.detail),
        ]
    elif result.outcome == SKIP:
        rows = [(_("why"), result.reason)]
    elif result.detail:
        rows = [(_("note"), result.detail)]
    width = max((len(label) for label, text in rows if text), default=0)
    return [f"{indent}{label + ':':{width + 1}} {text}" for label, text in rows if text]
