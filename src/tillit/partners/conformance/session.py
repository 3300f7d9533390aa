"""One partner check's state: the HTTP client, the secrets, the test identities it made and
every answer it got, with the helpers the checks speak the protocol through.

Signed requests are signed as tillit signs them (a POST over its raw body, a GET or DELETE
over "<METHOD> <path>" where the path is the part after the endpoint), so a partner that
passes takes tillit's own traffic. The test identities sent are identities.py's.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx
from django.utils.translation import gettext as _
from tillit_partner import signing

from tillit.partners.conformance import identities
from tillit.partners.conformance.answers import Answer, Failed, fetch
from tillit.partners.conformance.identities import Lead, encode
from tillit.partners.opendsr import PREFIX as DSR
from tillit.partners.opendsr import request_body

# Every purpose the protocol signs with, to tell a partner which one it used.
PURPOSES = ("lead", "receipt", "message", "message-receipt", "dsr", "dsr-response", "dsr-callback")
STATUSES = ("pending", "in_progress", "completed", "cancelled")
# How far along each status is: a repeated request may not go back.
PROGRESS = {"pending": 0, "in_progress": 1, "completed": 2, "cancelled": 2}
SHOWN_BYTES = 160


class Session:
    """What the checks share. Safe to use from several threads at once."""

    def __init__(
        self,
        endpoint: str,
        secrets: Sequence[bytes],
        *,
        timeout: float,
        wait_seconds: float,
        callback_url: str,
        rights_api: bool,
        country: str,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.secrets = list(secrets)
        self.timeout = timeout
        self.wait_seconds = wait_seconds
        self.callback_url = callback_url
        self.rights_api = rights_api
        self.country = country
        # As the worker reaches partners: directly (no proxy from the environment), and no
        # redirect followed.
        self.http = httpx.Client(
            timeout=timeout,
            trust_env=False,
            follow_redirects=False,
            headers={"User-Agent": "tillit-partner-check"},
        )
        self._lock = threading.Lock()
        self.answers: list[Answer] = []
        # (answer, the purpose its signature needs) for every 4xx answer to a signed request.
        self.refusals: list[tuple[Answer, str]] = []
        self.leads: list[Lead] = []
        self.subject_refs: set[str] = set()  # every person a lead sent named
        self.taken: set[str] = set()  # those of leads the partner gave a receipt for
        self.completed: dict[str, str] = {}  # request id -> type, of each request completed
        self.unreachable = False
        self.witness: Any = None  # a WitnessTarget, when the partner is a witness of the log
        self.witness_size: int | None = None  # the size it holds, once a check has learnt it
        self.listener: Any = None  # the callback Listener

    def close(self) -> None:
        self.http.close()

    # --- HTTP ----------------------------------------------------------------------------

    def exchange(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        purpose: str = "",
        url: str = "",
    ) -> Answer:
        """One request to `<endpoint><path>` (or to `url`), its whole answer read. Never
        raises: no answer is an Answer without a status. With `purpose`, a 4xx answer is kept
        to check that it is signed with it."""
        answer = fetch(
            self.http,
            method,
            path,
            url or self.endpoint + path,
            content=content,
            headers=headers,
            timeout=self.timeout,
        )
        with self._lock:
            self.answers.append(answer)
            if purpose and answer.status is not None and 400 <= answer.status < 500:
                self.refusals.append((answer, purpose))
        return answer

    # --- Signatures ------------------------------------------------------------------------

    def sign(self, signed: bytes, purpose: str, *, t: int | None = None) -> str:
        return signing.sign(self.secrets, signed, purpose=purpose, timestamp=t)

    def signed_with(self, content: bytes, header: str | None) -> str:
        """The purpose that the header signs `content` with under a secret held, "" if none."""
        for purpose in PURPOSES:
            try:
                signing.verify(self.secrets, content, header, purpose=purpose)
            except signing.SignatureError:
                continue
            return purpose
        return ""

    def signature_said(self, content: bytes, header: str | None) -> str:
        """How an answer is signed, in words."""
        if not header:
            return _("unsigned")
        purpose = self.signed_with(content, header)
        if purpose:
            return _("signed `%(purpose)s`") % {"purpose": purpose}
        for purpose in PURPOSES:
            try:
                signing.verify(self.secrets, content, header, purpose=purpose, tolerance=10**12)
            except signing.SignatureError:
                continue
            return _("signed `%(purpose)s`, with a timestamp more than 5 minutes off") % {
                "purpose": purpose
            }
        return _("signed, but not by any secret held or not over this body")

    def require_signed(self, answer: Answer, purpose: str, sent: str, required: str) -> None:
        try:
            signing.verify(self.secrets, answer.content, answer.signature, purpose=purpose)
        except signing.SignatureError:
            raise Failed(sent, self.said(answer), required) from None

    # --- Describing answers ----------------------------------------------------------------

    def said(self, answer: Answer) -> str:
        """The answer in a line: its status, how it is signed, the start of its body."""
        if answer.status is None:
            return answer.error if answer.timed_out else _("no answer: %(e)s") % {"e": answer.error}
        text = answer.content[:SHOWN_BYTES].decode("utf-8", "replace").strip()
        if len(answer.content) > SHOWN_BYTES:
            text += "…"
        signed = self.signature_said(answer.content, answer.signature)
        return f"HTTP {answer.status}, {signed}" + (f": {text}" if text else "")

    def fail(self, answer: Answer, sent: str, required: str, detail: str = "") -> Failed:
        return Failed(sent, self.said(answer), required, detail)

    def scrub(self, text: str) -> str:
        """The text with every secret held blanked out (a partner may echo anything)."""
        for secret in self.secrets:
            shown = secret.decode("utf-8", "replace")
            if len(shown) >= 4:
                text = text.replace(shown, "[secret]")
        return text

    # --- Leads -----------------------------------------------------------------------------

    def new_lead(self) -> Lead:
        """A lead for a new test identity, with consent to referral and to offers."""
        lead = identities.new_lead(self.country)
        with self._lock:
            self.leads.append(lead)
        return lead

    def post_lead(
        self,
        body: bytes,
        *,
        key: str | None,
        signature: str | None = None,
        unsigned: bool = False,
    ) -> Answer:
        """POST /leads as tillit sends a lead: signed `lead` (or with `signature`, or without
        one), with `key` as the Idempotency-Key."""
        self._held(body)
        headers = {"Content-Type": "application/json"}
        if not unsigned:
            headers[signing.HEADER] = signature or self.sign(body, "lead")
        if key is not None:
            headers[signing.IDEMPOTENCY_HEADER] = key
        return self.exchange("POST", "/leads", content=body, headers=headers, purpose="receipt")

    def send(self, lead: Lead, **options: Any) -> Answer:
        return self.post_lead(lead.body, key=lead.lead_id, **options)

    def _held(self, body: bytes) -> None:
        """Note the person a body names: the partner may have stored it, so it is erased."""
        try:
            data = json.loads(body)
            ref = data.get("subject_ref") if isinstance(data, dict) else None
        except ValueError:
            return
        if isinstance(ref, str) and ref:
            with self._lock:
                self.subject_refs.add(ref)

    def receipt(self, answer: Answer, lead: Lead, statuses: Sequence[int], sent: str) -> dict:
        """The receipt in `answer`, after checking all that tillit checks of it."""
        required = receipt_required()
        if answer.status not in statuses:
            raise self.fail(answer, sent, required)
        self.require_signed(answer, "receipt", sent, required)
        data = answer.json()
        if not isinstance(data, dict):
            raise self.fail(answer, sent, required, _("the receipt is not a JSON object"))
        problems = []
        if data.get("lead_id") != lead.lead_id:
            problems.append(_("its lead_id is not the one sent"))
        if data.get("status") != "accepted":
            problems.append(_("its status is not `accepted`"))
        if not isinstance(data.get("partner_lead_id"), str) or not data["partner_lead_id"]:
            problems.append(_("it has no partner_lead_id"))
        if not _is_time(data.get("received_at")):
            problems.append(_("its received_at is not a date and time"))
        if problems:
            raise self.fail(answer, sent, required, "; ".join(problems))
        with self._lock:
            self.taken.add(lead.subject_ref)
        return data

    def stored(self, lead: Lead | None = None) -> tuple[Lead, dict]:
        """A lead the partner has taken (201 and a good receipt); the check fails if not."""
        lead = lead or self.new_lead()
        answer = self.send(lead)
        return lead, self.receipt(answer, lead, (201,), _("a new test lead, signed `lead`"))

    # --- Rights requests -------------------------------------------------------------------

    def dsr_body(
        self, kind: str, subject_ref: str, changes: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return request_body(
            str(uuid.uuid4()),
            kind,
            subject_ref,
            submitted_time=identities.now(),
            callback_url=self.callback_url,
            changes=changes,
        )

    def dsr_post(self, body: dict[str, Any], *, signature: str | None = None) -> Answer:
        raw = encode(body)
        headers = {"Content-Type": "application/json"}
        if signature != "":
            headers[signing.HEADER] = signature or self.sign(raw, "dsr")
        return self.exchange(
            "POST", DSR + "/requests", content=raw, headers=headers, purpose="dsr-response"
        )

    def dsr_read(self, method: str, path: str, *, signature: str | None = None) -> Answer:
        """A GET or DELETE of the rights API, signed over "<METHOD> <path>"."""
        headers = {}
        if signature != "":
            headers[signing.HEADER] = signature or self.sign(f"{method} {path}".encode(), "dsr")
        return self.exchange(method, path, headers=headers, purpose="dsr-response")

    def dsr_status(
        self,
        answer: Answer,
        request_id: str,
        statuses: Sequence[int],
        sent: str,
        required: str,
    ) -> dict[str, Any]:
        """The status object in a signed rights API answer about `request_id`."""
        if answer.status not in statuses:
            raise self.fail(answer, sent, required)
        self.require_signed(answer, "dsr-response", sent, required)
        data = answer.json()
        if not isinstance(data, dict) or data.get("subject_request_id") != request_id:
            raise self.fail(answer, sent, required, _("it does not name the request sent"))
        if data.get("request_status") not in STATUSES:
            raise self.fail(answer, sent, required, _("its request_status is not an OpenDSR one"))
        return data

    def poll(self, request_id: str, until: Sequence[str]) -> dict[str, Any]:
        """GET the request's status until it is one of `until` (the first is the one hoped
        for), for up to the wait."""
        path = f"{DSR}/requests/{request_id}"
        sent = _("GET %(path)s, signed `dsr`") % {"path": path}
        required = _("200 with the request's status, signed `dsr-response`")
        deadline = time.monotonic() + self.wait_seconds
        pause = 0.05
        while True:
            answer = self.dsr_read("GET", path)
            status = self.dsr_status(answer, request_id, (200,), sent, required)
            if status["request_status"] in until:
                return status
            if time.monotonic() >= deadline:
                raise self.fail(
                    answer,
                    sent,
                    _("request_status %(what)s within the wait, %(seconds)s s (--wait)")
                    % {"what": until[0], "seconds": f"{self.wait_seconds:g}"},
                    _("it was still %(status)s") % {"status": status["request_status"]},
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.25)

    # --- Messages --------------------------------------------------------------------------

    def post_message(
        self, message: dict[str, Any], *, signature: str | None = None, unsigned: bool = False
    ) -> Answer:
        raw = encode(message)
        headers = {
            "Content-Type": "application/json",
            signing.IDEMPOTENCY_HEADER: str(message["message_id"]),
        }
        if not unsigned:
            headers[signing.HEADER] = signature or self.sign(raw, "message")
        return self.exchange(
            "POST", "/messages", content=raw, headers=headers, purpose="message-receipt"
        )

    def delivered(
        self, answer: Answer, message: dict[str, Any], statuses: Sequence[int], sent: str
    ) -> None:
        required = _(
            "201 (200 for a repeat) with {message_id, status: delivered}, signed `message-receipt`"
        )
        if answer.status not in statuses:
            raise self.fail(answer, sent, required)
        self.require_signed(answer, "message-receipt", sent, required)
        data = answer.json()
        if not isinstance(data, dict) or data.get("message_id") != message["message_id"]:
            raise self.fail(answer, sent, required, _("the receipt names another message"))
        if data.get("status") != "delivered":
            raise self.fail(answer, sent, required, _("its status is not `delivered`"))


def receipt_required() -> str:
    return _(
        "a receipt {lead_id (the one sent), partner_lead_id, status: accepted, received_at} "
        "signed `receipt`: 201 for a new lead, 200 for a repeat (docs/partners.md, Answering)"
    )


def created_required() -> str:
    return _(
        "201 with {controller_id, subject_request_id, request_status, "
        "expected_completion_time}, signed `dsr-response` (Rights requests)"
    )


def _is_time(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True
