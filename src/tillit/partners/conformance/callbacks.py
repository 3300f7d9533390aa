"""The check of the rights API's status callbacks (docs/partners.md: Rights requests): each
request the other checks saw completed is called back to the check's listener, signed
`dsr-callback`. And the listener's own test of a callback, so that it answers as tillit does."""

from __future__ import annotations

import json
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from tillit_partner import signing

from tillit.partners.conformance.answers import Failed, Skipped
from tillit.partners.conformance.listener import Callback
from tillit.partners.conformance.registry import AFTER, RIGHTS, check
from tillit.partners.conformance.session import PROGRESS, Session


@check(
    "rights.callback",
    gettext_lazy("Each completed request is called back, signed `dsr-callback`"),
    needs=RIGHTS,
    stage=AFTER,
)
def rights_callback(s: Session) -> str | None:
    expected = dict(s.completed)
    if not expected:
        raise Skipped(_("no rights request was completed, so no callback was due"))

    def settled(callbacks: list[Callback]) -> bool:
        # One callback for each request is enough to judge: a partner calls back once for
        # each change of status, so a bad one is not followed by a good one.
        return set(expected) <= {_request_of(c) for c in callbacks}

    callbacks = s.listener.wait(settled, s.wait_seconds)
    sent = ngettext(
        "%(count)d rights request with status_callback_urls [%(url)s]",
        "%(count)d rights requests with status_callback_urls [%(url)s]",
        len(expected),
    ) % {
        "count": len(expected),
        "url": s.callback_url,
    }
    required = _(
        "a POST of the status object plus status_callback_url to each callback URL, signed "
        "`dsr-callback`, on every change of status (Rights requests)"
    )
    arrived = {_request_of(c): c for c in callbacks if _request_of(c) in expected}
    if not arrived:
        raise Failed(
            sent,
            _("no callback within %(seconds)s s") % {"seconds": f"{s.wait_seconds:g}"},
            required,
            _(
                "the partner could not or did not call back to %(url)s (a partner elsewhere "
                "needs a public --callback-url that reaches --listen)"
            )
            % {"url": s.callback_url},
        )
    for callback in callbacks:
        problem = _callback_problem(s, callback) if _request_of(callback) in expected else ""
        if problem:
            raise Failed(sent, problem, required)
    missing = len(set(expected) - set(arrived))
    if missing:
        raise Failed(
            sent,
            _("no callback for %(missing)d of the %(count)d requests within %(seconds)s s")
            % {"missing": missing, "count": len(expected), "seconds": f"{s.wait_seconds:g}"},
            required,
        )
    return None


def _request_of(callback: Callback) -> str:
    try:
        data = json.loads(callback.body)
    except ValueError:
        return ""
    return str(data.get("subject_request_id", "")) if isinstance(data, dict) else ""


def _callback_problem(s: Session, callback: Callback) -> str:
    """What is wrong with a callback, in words; "" when nothing is."""
    try:
        signing.verify(s.secrets, callback.body, callback.signature, purpose="dsr-callback")
    except signing.SignatureError:
        return _("a callback %(how)s, not `dsr-callback` by the shared secret") % {
            "how": s.signature_said(callback.body, callback.signature)
        }
    try:
        data = json.loads(callback.body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return _("a callback whose body is not a JSON object")
    if data.get("status_callback_url") != s.callback_url:
        return _("a callback with status_callback_url %(url)s, not the URL the request named") % {
            "url": json.dumps(data.get("status_callback_url"))
        }
    if data.get("request_status") not in PROGRESS:
        return _("a callback without an OpenDSR request_status")
    return ""


def verified_callback(secrets: list[bytes]) -> Any:
    """For the listener: whether a callback is signed as tillit requires (it answers 202)."""

    def verified(callback: Callback) -> bool:
        try:
            signing.verify(secrets, callback.body, callback.signature, purpose="dsr-callback")
        except signing.SignatureError:
            return False
        return True

    return verified
