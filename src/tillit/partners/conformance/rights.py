"""The checks of the rights API (docs/partners.md: Rights requests), each request sent as
rights/fanout.py sends tillit's. The callbacks that follow are callbacks.py's checks, and the
erasure of every test identity at the end cleanup.py's."""

from __future__ import annotations

import json
import uuid
from secrets import token_hex
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from tillit_partner import signing

from tillit.partners.conformance.answers import Failed, Skipped
from tillit.partners.conformance.identities import NAME, PHONE, Lead, encode, message
from tillit.partners.conformance.registry import RIGHTS, check
from tillit.partners.conformance.session import DSR, PROGRESS, Session, created_required

OPENDSR_TYPES = ("access", "portability", "erasure")
TILLIT_TYPES = ("rectification", "withdraw", "stop_offers", "restriction", "objection")
RECTIFIED = {"name": NAME + " Rectified", "phone": PHONE}


@check(
    "rights.discovery", gettext_lazy("Discovery lists tillit's identity and types"), needs=RIGHTS
)
def rights_discovery(s: Session) -> str | None:
    path = DSR + "/discovery"
    sent = _('GET %(path)s, signed `dsr` over "GET %(path)s"') % {"path": path}
    required = _(
        "200 signed `dsr-response`: api_version 2.0, controller_customer_id in the raw format, "
        "and every request type (Rights requests)"
    )
    answer = s.dsr_read("GET", path)
    if answer.status != 200:
        raise s.fail(answer, sent, required)
    s.require_signed(answer, "dsr-response", sent, required)
    data = answer.json()
    if not isinstance(data, dict):
        raise s.fail(answer, sent, required, _("the answer is not a JSON object"))
    problems = []
    if data.get("api_version") != "2.0":
        problems.append(_("api_version is not 2.0"))
    identities = data.get("supported_identities")
    if not isinstance(identities, list) or not any(
        isinstance(i, dict)
        and (i.get("identity_type"), i.get("identity_format")) == ("controller_customer_id", "raw")
        for i in identities
    ):
        problems.append(_("controller_customer_id in the raw format is not listed"))
    listed = _strings(data.get("supported_subject_request_types")) | _strings(
        data.get("tillit_request_types")
    )
    missing = [t for t in (*OPENDSR_TYPES, *TILLIT_TYPES) if t not in listed]
    if missing:
        problems.append(
            _("not listed, so tillit sends none of them: %(types)s") % {"types": ", ".join(missing)}
        )
    if problems:
        raise s.fail(answer, sent, required, "; ".join(problems))
    return None


def _strings(value: object) -> set[str]:
    return {v for v in value if isinstance(v, str)} if isinstance(value, list) else set()


@check(
    "rights.signature",
    gettext_lazy("A rights request without a good signature gets 401"),
    needs=RIGHTS,
)
def rights_signature(s: Session) -> str | None:
    required = _("401, and the request not taken: signed `dsr` with the shared secret")
    other = token_hex(32).encode()
    for sent, sign in (
        (_("an access request without Tillit-Signature"), lambda raw: ""),
        (
            _("an access request signed with a secret that is not the shared one"),
            lambda raw: signing.sign(other, raw, purpose="dsr"),
        ),
        (
            _("an access request signed with the purpose `dsr-response` (reflected)"),
            lambda raw: s.sign(raw, "dsr-response"),
        ),
    ):
        body = s.dsr_body("access", str(uuid.uuid4()))
        answer = s.dsr_post(body, signature=sign(encode(body)))
        if answer.status != 401:
            raise s.fail(answer, sent, required)
        _not_taken(s, body["subject_request_id"], sent)
    path = DSR + "/discovery"
    answer = s.dsr_read("GET", path, signature="")
    if answer.status != 401:
        raise s.fail(answer, _("GET %(path)s without Tillit-Signature") % {"path": path}, required)
    return None


def _not_taken(s: Session, request_id: str, refused: str) -> None:
    path = f"{DSR}/requests/{request_id}"
    answer = s.dsr_read("GET", path)
    if answer.status != 404:
        raise s.fail(
            answer,
            _("GET %(path)s, signed, after %(refused)s") % {"path": path, "refused": refused},
            _("404: a refused request was not taken"),
        )


def lifecycle(s: Session, kind: str, subject_ref: str, **extra: Any) -> dict[str, Any]:
    """Send a request, repeat it, and wait for it to be completed; its final status."""
    body = s.dsr_body(kind, subject_ref, **extra)
    request_id = body["subject_request_id"]
    sent = _("a rights request (%(kind)s) for a test lead, signed `dsr`") % {"kind": kind}
    first = s.dsr_status(s.dsr_post(body), request_id, (201,), sent, created_required())
    again = s.dsr_status(
        s.dsr_post(body),
        request_id,
        (200, 201),
        _("the same %(kind)s request again (the same subject_request_id)") % {"kind": kind},
        _("200 with the request's status: answer a repeat with the same status"),
    )
    if PROGRESS[again["request_status"]] < PROGRESS[first["request_status"]]:
        raise Failed(
            _("the same %(kind)s request again") % {"kind": kind},
            _("request_status %(again)s after %(first)s")
            % {"again": again["request_status"], "first": first["request_status"]},
            _("the same status: a repeat changes nothing"),
        )
    done = s.poll(request_id, ("completed", "cancelled"))
    if done["request_status"] != "completed":
        raise Failed(
            sent,
            _("request_status cancelled, though nobody cancelled it"),
            _("the request carried out: completed"),
        )
    s.completed[request_id] = kind
    return done


def records(s: Session, status: dict[str, Any], kind: str) -> list[Any]:
    """The results of a completed access or portability request, fetched as tillit fetches
    them: from the partner's own address, signed over "GET <path after the endpoint>"."""
    url = status.get("results_url")
    sent = _("a rights request (%(kind)s), completed") % {"kind": kind}
    if not isinstance(url, str) or not url.startswith(s.endpoint + "/"):
        raise Failed(
            sent,
            _("results_url %(url)s") % {"url": json.dumps(url)},
            _("a results_url under the endpoint: tillit fetches results from nowhere else"),
        )
    path = url.removeprefix(s.endpoint)
    answer = s.dsr_read("GET", path)
    sent = _("GET %(path)s, signed `dsr`") % {"path": path}
    required = _("200 with {subject_request_id, records: [...]}, signed `dsr-response`")
    if answer.status != 200:
        raise s.fail(answer, sent, required)
    s.require_signed(answer, "dsr-response", sent, required)
    data = answer.json()
    if not isinstance(data, dict) or not isinstance(data.get("records"), list):
        raise s.fail(answer, sent, required, _("there is no list of records"))
    return data["records"]


def _mentions(found: list[Any], lead: Lead) -> bool:
    text = json.dumps(found)
    return any(value in text for value in (lead.lead_id, lead.subject_ref, lead.email))


def _access(s: Session, kind: str) -> str | None:
    lead, _receipt = s.stored()
    other, _receipt = s.stored()
    found = records(s, lifecycle(s, kind, lead.subject_ref), kind)
    sent = _("a rights request (%(kind)s) for one of two test leads") % {"kind": kind}
    if not _mentions(found, lead):
        raise Failed(
            sent,
            _("%(count)d records, none of them the test lead") % {"count": len(found)},
            _("the records of the person's leads (Rights requests)"),
        )
    strangers = [x for x in list(s.leads) if x.subject_ref != lead.subject_ref]
    if any(_mentions(found, x) for x in strangers):
        raise Failed(
            sent,
            _("records that name another test identity (%(other)s or another)")
            % {"other": other.subject_ref},
            _("the person's records and nobody else's"),
        )
    return None


@check("rights.access", gettext_lazy("An access request is carried out"), needs=RIGHTS)
def rights_access(s: Session) -> str | None:
    return _access(s, "access")


@check("rights.portability", gettext_lazy("A portability request is carried out"), needs=RIGHTS)
def rights_portability(s: Session) -> str | None:
    return _access(s, "portability")


@check(
    "rights.erasure", gettext_lazy("An erasure request deletes the person's leads"), needs=RIGHTS
)
def rights_erasure(s: Session) -> str | None:
    lead, _receipt = s.stored()
    lifecycle(s, "erasure", lead.subject_ref)
    found = records(s, lifecycle(s, "access", lead.subject_ref), "access")
    if _mentions(found, lead):
        raise Failed(
            _("an access request after the person's erasure request was completed"),
            _("records that still hold the test lead"),
            _("no records: erasure deletes the person's leads"),
        )
    return None


@check("rights.rectification", gettext_lazy("A rectification's changes are applied"), needs=RIGHTS)
def rights_rectification(s: Session) -> str | None:
    lead, _receipt = s.stored()
    lifecycle(s, "rectification", lead.subject_ref, changes=RECTIFIED)
    found = records(s, lifecycle(s, "access", lead.subject_ref), "access")
    text = json.dumps(found)
    missing = [k for k, v in RECTIFIED.items() if json.dumps(v)[1:-1] not in text]
    if missing:
        raise Failed(
            _("a rectification (extensions.tillit.changes: %(changes)s), then an access request")
            % {"changes": json.dumps(RECTIFIED)},
            _("records without the corrected %(fields)s") % {"fields": ", ".join(missing)},
            _("the corrected values in the person's data: rectification applies them"),
        )
    return None


def _no_more_offers(s: Session, kind: str) -> str | None:
    lead, _receipt = s.stored()
    lifecycle(s, kind, lead.subject_ref)
    sent = _("an offer to the test lead after its %(kind)s request was completed") % {"kind": kind}
    offer = message(lead.subject_ref)
    answer = s.post_message(offer)
    if answer.status != 410:
        raise s.fail(answer, sent, _("410: the person may not get offers any more"))
    notice = message(lead.subject_ref, kind="notice")
    s.delivered(
        s.post_message(notice),
        notice,
        (201,),
        _("a notice (kind notice) to the same person: a notice goes whatever the consent"),
    )
    return None


@check("rights.withdraw", gettext_lazy("A withdrawal stops offers, not notices"), needs=RIGHTS)
def rights_withdraw(s: Session) -> str | None:
    return _no_more_offers(s, "withdraw")


@check("rights.stop_offers", gettext_lazy("stop_offers stops offers, not notices"), needs=RIGHTS)
def rights_stop_offers(s: Session) -> str | None:
    return _no_more_offers(s, "stop_offers")


@check("rights.restriction", gettext_lazy("A restriction stops offers, not notices"), needs=RIGHTS)
def rights_restriction(s: Session) -> str | None:
    return _no_more_offers(s, "restriction")


@check("rights.objection", gettext_lazy("An objection stops offers, not notices"), needs=RIGHTS)
def rights_objection(s: Session) -> str | None:
    return _no_more_offers(s, "objection")


@check(
    "rights.cancel_completed",
    gettext_lazy("DELETE of a completed request gets 400 and changes nothing"),
    needs=RIGHTS,
)
def rights_cancel_completed(s: Session) -> str | None:
    lead, _receipt = s.stored()
    done = lifecycle(s, "objection", lead.subject_ref)
    path = f"{DSR}/requests/{done['subject_request_id']}"
    sent = _("DELETE %(path)s of a completed request, signed `dsr`") % {"path": path}
    answer = s.dsr_read("DELETE", path)
    data = answer.json()
    if (
        answer.status != 400
        or not isinstance(data, dict)
        or not isinstance(data.get("error"), dict)
    ):
        raise s.fail(answer, sent, _("400 with an error object: once carried out, it stays"))
    after = s.poll(done["subject_request_id"], ("completed", "cancelled"))
    if after["request_status"] != "completed":
        raise Failed(sent, _("a request now cancelled"), _("the request still completed"))
    return None


@check(
    "rights.cancel_pending",
    gettext_lazy("DELETE of a pending request gets 202 and cancels it"),
    needs=RIGHTS,
)
def rights_cancel_pending(s: Session) -> str | None:
    lead, _receipt = s.stored()
    body = s.dsr_body("erasure", lead.subject_ref)
    request_id = body["subject_request_id"]
    sent = _("an erasure request for a test lead, signed `dsr`")
    first = s.dsr_status(s.dsr_post(body), request_id, (201,), sent, created_required())
    if first["request_status"] != "pending":
        raise Skipped(
            _(
                "the partner answered %(status)s at once, so no request stayed pending to be "
                "cancelled"
            )
            % {"status": first["request_status"]}
        )
    path = f"{DSR}/requests/{request_id}"
    sent = _("DELETE %(path)s of a pending request, signed `dsr`") % {"path": path}
    required = _("202 with the status, now cancelled, signed `dsr-response`")
    cancelled = s.dsr_status(s.dsr_read("DELETE", path), request_id, (202,), sent, required)
    if cancelled["request_status"] != "cancelled":
        raise Failed(sent, _("request_status %(s)s") % {"s": cancelled["request_status"]}, required)
    after = s.poll(request_id, ("cancelled", "completed"))
    if after["request_status"] != "cancelled":
        raise Failed(sent, _("the request was carried out after all"), _("nothing more done"))
    return None
