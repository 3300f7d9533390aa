"""The checks of the endpoint and of receiving a lead (docs/partners.md: Receiving a lead,
Answering, Retries and idempotency, A new secret)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from secrets import token_hex
from urllib.parse import urlsplit

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from tillit_partner import signing

from tillit.partners.conformance.answers import Answer, Failed
from tillit.partners.conformance.identities import NAME, Lead
from tillit.partners.conformance.registry import FIRST, check
from tillit.partners.conformance.session import Session

LOOPBACK = ("127.0.0.1", "localhost", "::1")
# Far enough outside the five minutes' tolerance that a partner's clock a minute off still
# tells the difference.
OFF_BY = 360


def _junk() -> str:
    return token_hex(32)


def _bad_signature_required() -> str:
    return _(
        "401: the signature is verified over the raw body, with the purpose `lead`, before "
        "the body is read; nothing is stored"
    )


@check("endpoint", gettext_lazy("The endpoint is https (http only on this machine)"), stage=FIRST)
def endpoint(s: Session) -> str | None:
    url = urlsplit(s.endpoint)
    if url.scheme == "https" or (url.scheme == "http" and url.hostname in LOOPBACK):
        return None
    raise Failed(
        _("nothing (the endpoint's address was read)"),
        s.endpoint,
        _("https (http only to this machine): tillit sends leads to no other endpoint"),
    )


@check("healthz", gettext_lazy("GET /healthz answers 200"), stage=FIRST)
def healthz(s: Session) -> str | None:
    answer = s.exchange("GET", "/healthz")
    if answer.status is None:
        s.unreachable = True
    if answer.status != 200:
        raise s.fail(answer, "GET /healthz", _("200 (openapi.json: /healthz)"))
    return None


@check("lead.new", gettext_lazy("A new lead gets 201 and a signed receipt"))
def lead_new(s: Session) -> str | None:
    s.stored()
    return None


@check("lead.repeat", gettext_lazy("The same lead again gets 200 and the same receipt"))
def lead_repeat(s: Session) -> str | None:
    lead, first = s.stored()
    sent = _("the same lead again: the same body and Idempotency-Key, signed anew")
    again = s.receipt(s.send(lead), lead, (200,), sent)
    if again["partner_lead_id"] != first["partner_lead_id"]:
        raise Failed(
            sent,
            _("a receipt with partner_lead_id %(again)s (the first said %(first)s)")
            % {"again": again["partner_lead_id"], "first": first["partner_lead_id"]},
            _("200 with the same receipt, and nothing stored anew (Retries and idempotency)"),
        )
    return None


@check(
    "lead.concurrent",
    gettext_lazy("Two sends of one new lead at once are stored once"),
)
def lead_concurrent(s: Session) -> str | None:
    lead = s.new_lead()
    start = threading.Barrier(2)
    answers: list[Answer] = []

    def send() -> None:
        try:
            start.wait(timeout=s.timeout)
        except threading.BrokenBarrierError:
            return
        answers.append(s.send(lead))

    threads = [threading.Thread(target=send) for _n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent = _("one new lead, sent twice at the same moment (a worker's retry racing the first)")
    if len(answers) != 2:
        raise Failed(sent, _("the two sends could not be made at once"), _("two answers"))
    receipts = [s.receipt(a, lead, (200, 201), sent) for a in answers]
    statuses = sorted(a.status or 0 for a in answers)
    ids = {r["partner_lead_id"] for r in receipts}
    if len(ids) != 1 or statuses == [200, 200]:
        raise Failed(
            sent,
            _("HTTP %(statuses)s, partner_lead_id %(ids)s")
            % {"statuses": ", ".join(map(str, statuses)), "ids": ", ".join(sorted(ids))},
            _(
                "one 201 and one 200 (or two receipts naming one partner_lead_id): never two "
                "leads stored"
            ),
        )
    return None


@check("lead.conflict", gettext_lazy("The same lead_id with another body gets 409"))
def lead_conflict(s: Session) -> str | None:
    lead, first = s.stored()
    sent = _("the lead_id of a lead taken, with another name in the body")
    answer = s.send(lead.changed(name=NAME + " Changed"))
    if answer.status != 409:
        raise s.fail(answer, sent, _("409 (Retries and idempotency)"))
    sent = _("the first lead again, after the conflicting one")
    again = s.receipt(s.send(lead), lead, (200,), sent)
    if again["partner_lead_id"] != first["partner_lead_id"]:
        raise Failed(
            sent,
            _("a receipt with another partner_lead_id"),
            _("200 with the first receipt: the lead stays as it was taken"),
        )
    return None


def _refused_then_taken(
    s: Session, lead: Lead, answer: Answer, sent: str, status: int, required: str
) -> None:
    """`answer` (to a bad send of `lead`) must be `status`, and the lead sent properly next
    must be taken as new: nothing was stored from the refused send."""
    if answer.status != status:
        raise s.fail(answer, sent, required)
    good = s.send(lead)
    if good.status != 201:
        raise s.fail(
            good,
            _("after %(sent)s: the lead itself, signed properly") % {"sent": sent},
            _("201: the refused request stored nothing"),
        )
    s.receipt(good, lead, (201,), _("the lead itself, signed properly"))


@check("lead.signature", gettext_lazy("A lead without a good signature gets 401"))
def lead_signature(s: Session) -> str | None:
    other = token_hex(32).encode()
    cases: list[tuple[str, Callable[[Lead], Answer]]] = [
        (_("a lead without Tillit-Signature"), lambda lead: s.send(lead, unsigned=True)),
        (
            _("a lead signed with a secret that is not the shared one"),
            lambda lead: s.send(lead, signature=signing.sign(other, lead.body, purpose="lead")),
        ),
        (
            _("a lead whose body was changed after it was signed"),
            lambda lead: s.post_lead(
                lead.changed(name=NAME + " Altered").body,
                key=lead.lead_id,
                signature=s.sign(lead.body, "lead"),
            ),
        ),
        (
            _("a lead signed with the purpose `receipt` (a reflected signature)"),
            lambda lead: s.send(lead, signature=s.sign(lead.body, "receipt")),
        ),
    ]
    for sent, bad in cases:
        lead = s.new_lead()
        _refused_then_taken(s, lead, bad(lead), sent, 401, _bad_signature_required())
    return None


@check("lead.freshness", gettext_lazy("A lead signed more than 5 minutes ago or ahead gets 401"))
def lead_freshness(s: Session) -> str | None:
    for offset, sent in (
        (-OFF_BY, _("a lead signed with a t 6 minutes old (a replay)")),
        (OFF_BY, _("a lead signed with a t 6 minutes ahead")),
    ):
        lead = s.new_lead()
        answer = s.send(lead, signature=s.sign(lead.body, "lead", t=int(time.time()) + offset))
        _refused_then_taken(
            s, lead, answer, sent, 401, _("401: a t more than five minutes from the clock")
        )
    return None


@check("lead.rotation", gettext_lazy("Every v1 of the header is checked (a secret's rotation)"))
def lead_rotation(s: Session) -> str | None:
    for good_first in (True, False):
        lead = s.new_lead()
        t = int(time.time())
        # The good values are one per secret held: while tillit rotates, the partner may hold
        # either the new secret or the old.
        good = s.sign(lead.body, "lead", t=t).split(",v1=")[1:]
        values = [*good, _junk()] if good_first else [_junk(), *good]
        header = f"t={t}," + ",".join(f"v1={v}" for v in values)
        shape = "t=…,v1=<good>,v1=<junk>" if good_first else "t=…,v1=<junk>,v1=<good>"
        sent = _("a lead with the header %(shape)s, as tillit sends while it rotates") % {
            "shape": shape
        }
        answer = s.send(lead, signature=header)
        if answer.status != 201:
            raise s.fail(
                answer,
                sent,
                _("201: a message is authentic when any v1 matches (A new secret)"),
            )
        s.receipt(answer, lead, (201,), sent)
    return None


@check("lead.header", gettext_lazy("A header with five v1 values or two t values gets 401"))
def lead_header(s: Session) -> str | None:
    for sent, make in (
        (
            _("a lead whose header holds five v1 values, one of them good"),
            lambda lead, t: (
                s.sign(lead.body, "lead", t=t)
                + "".join(f",v1={_junk()}" for _n in range(5 - len(s.secrets)))
            ),
        ),
        (
            _("a lead whose header holds two t values"),
            lambda lead, t: f"t={t}," + s.sign(lead.body, "lead", t=t),
        ),
    ):
        lead = s.new_lead()
        answer = s.send(lead, signature=make(lead, int(time.time())))
        required = _("401: one t and at most four v1 values (openapi.json, Signatures)")
        _refused_then_taken(s, lead, answer, sent, 401, required)
    return None


@check("lead.malformed", gettext_lazy("What is not a lead gets 400 or 422"))
def lead_malformed(s: Session) -> str | None:
    lead = s.new_lead()
    sent = _("a lead whose Idempotency-Key is not its lead_id")
    answer = s.post_lead(lead.body, key=str(uuid.uuid4()))
    _refused_then_taken(s, lead, answer, sent, 400, _("400 (the Idempotency-Key is the lead_id)"))

    body = b"partner-check: this is not JSON"
    answer = s.post_lead(body, key=str(uuid.uuid4()))
    if answer.status != 400:
        raise s.fail(
            answer, _("a signed body that is not JSON"), _("400 (a body that is not a lead)")
        )

    for sent, broken in (
        (_("a lead without its email field"), lambda lead: lead.without("email")),
        (
            _("a lead whose consent is a string, not an object"),
            lambda lead: lead.changed(consents=["referral"]),
        ),
    ):
        lead = s.new_lead()
        answer = s.send(broken(lead))
        required = _("422 (missing fields, or a field of the wrong type)")
        _refused_then_taken(s, lead, answer, sent, 422, required)
    return None
