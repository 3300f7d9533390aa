"""The checks of what the other checks saw: whether every refusal was signed, and whether every
answer came within tillit's delivery timeout."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from tillit.partners.conformance.answers import Failed, Skipped
from tillit.partners.conformance.registry import AFTER, LAST, check
from tillit.partners.conformance.session import Session

SHOWN = 3


@check("refusals.signed", gettext_lazy("Every refusal is signed"), stage=AFTER)
def refusals_signed(s: Session) -> str | None:
    refusals = list(s.refusals)
    if not refusals:
        raise Skipped(_("no request of the other checks was refused"))
    bad = [(a, p) for a, p in refusals if s.signed_with(a.content, a.signature) != p]
    if bad:
        raise Failed(
            ngettext(
                "the request the other checks had refused",
                "the %(count)d requests the other checks had refused",
                len(refusals),
            )
            % {"count": len(refusals)},
            "; ".join(f"{a.method} {a.path}: {s.said(a)}" for a, _p in bad[:SHOWN]),
            _(
                "every answer signed, refusals too: `receipt` for leads, `dsr-response` for the "
                "rights API, `message-receipt` for messages (openapi.json, Refusals)"
            ),
            _("%(bad)d of %(count)d refusals") % {"bad": len(bad), "count": len(refusals)},
        )
    return ngettext(
        "%(count)d refusal, signed", "%(count)d refusals, each signed", len(refusals)
    ) % {"count": len(refusals)}


@check("latency", gettext_lazy("Every answer comes within the delivery timeout"), stage=LAST)
def latency(s: Session) -> str | None:
    answers = list(s.answers)
    if not answers:
        raise Skipped(_("nothing was sent"))
    allowed = f"{s.timeout:g}"
    late = [a for a in answers if a.timed_out or a.elapsed > s.timeout]
    if late:
        raise Failed(
            ngettext("%(count)d request", "%(count)d requests", len(answers))
            % {"count": len(answers)},
            "; ".join(
                _("%(method)s %(path)s: no answer within %(seconds)s s")
                % {"method": a.method, "path": a.path, "seconds": allowed}
                for a in late[:SHOWN]
            ),
            _(
                "every answer within %(seconds)s s, tillit's delivery timeout: a later answer "
                "is lost, and the lead is sent again"
            )
            % {"seconds": allowed},
            _("%(late)d late of %(count)d") % {"late": len(late), "count": len(answers)},
        )
    slowest = max(answers, key=lambda a: a.elapsed)
    return _("the slowest: %(method)s %(path)s, %(elapsed).2f s of the %(seconds)s s allowed") % {
        "method": slowest.method,
        "path": slowest.path,
        "elapsed": slowest.elapsed,
        "seconds": allowed,
    }
