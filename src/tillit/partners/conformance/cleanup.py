"""The last check of the rights API: every test identity a check sent is erased with an
erasure request, so that the partner keeps nothing from a check."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from tillit.partners.conformance.answers import Failed, Skipped
from tillit.partners.conformance.registry import CLEANUP, check
from tillit.partners.conformance.session import Session, created_required


@check("cleanup", gettext_lazy("Every test identity sent is erased"), stage=CLEANUP)
def cleanup(s: Session) -> str | None:
    refs = sorted(s.subject_refs)
    if not refs:
        raise Skipped(_("no test lead was sent"))
    if not s.rights_api:
        raise Skipped(
            ngettext(
                "the partner has no rights API, so the test lead sent stays with it: ask it to "
                'delete every lead at partner-check.invalid (each carries "test": true)',
                "the partner has no rights API, so the %(count)d test leads sent stay with it: "
                'ask it to delete every lead at partner-check.invalid (each carries "test": '
                "true)",
                len(refs),
            )
            % {"count": len(refs)}
        )
    problems = _erase(s, refs)
    if problems:
        raise Failed(
            ngettext(
                "an erasure request for the test identity sent",
                "an erasure request for each of the %(count)d test identities sent",
                len(refs),
            )
            % {"count": len(refs)},
            _("%(failed)d not erased; the first: %(first)s")
            % {"failed": len(problems), "first": problems[0]},
            _("each one completed: a partner keeps nothing from a check"),
        )
    return ngettext(
        "%(count)d test identity erased", "%(count)d test identities erased", len(refs)
    ) % {"count": len(refs)}


def _erase(s: Session, refs: list[str]) -> list[str]:
    """Erase each of `refs`; what went wrong with those that were not erased.

    Every erasure is sent before any is waited for: a partner that holds requests for a
    while carries them all out in one wait."""
    language = translation.get_language()
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="partner-check-erase") as pool:
        requests = list(pool.map(lambda ref: _ask(s, language, ref), refs))
        return [p for p in pool.map(lambda asked: _done(s, language, asked), requests) if p]


def _ask(s: Session, language: str | None, ref: str) -> tuple[str, str]:
    """Send one erasure: its request id ("" when there is nothing to wait for) and what went
    wrong ("" when nothing did)."""
    body = s.dsr_body("erasure", ref)
    request_id = body["subject_request_id"]
    with translation.override(language):
        answer = s.dsr_post(body)
        if answer.status == 404 and ref not in s.taken:
            return "", ""  # it holds nobody by that reference: only leads it refused
        try:
            s.dsr_status(
                answer,
                request_id,
                (200, 201),
                _("an erasure request for a test identity"),
                created_required(),
            )
        except Failed as failed:
            return "", failed.received
    return request_id, ""


def _done(s: Session, language: str | None, asked: tuple[str, str]) -> str:
    """What went wrong with one erasure, or ""."""
    request_id, problem = asked
    if not request_id:
        return problem
    with translation.override(language):
        try:
            status = s.poll(request_id, ("completed", "cancelled"))
        except Failed as failed:
            return failed.received
        return "" if status["request_status"] == "completed" else _("cancelled")
