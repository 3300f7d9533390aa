"""The partner's side of the protocol without a web framework: `Partner.handle(Request)`.

An adapter (tillit_partner.django, tillit_partner.asgi) turns its framework's request into a
`Request` whose `path` is relative to the partner's endpoint, and the `Response` back. Every
message from tillit is verified over its raw bytes before anything is parsed; every answer is
signed with the purpose the protocol gives it, refusals included.

Paths, relative to the endpoint:
  POST /leads                                  purpose lead    -> receipt
  POST /messages                               purpose message -> message-receipt
  GET  /opendsr/v2/discovery                   purpose dsr     -> dsr-response
  POST /opendsr/v2/requests                    purpose dsr     -> dsr-response
  GET|DELETE /opendsr/v2/requests/{id}         purpose dsr     -> dsr-response
  GET  /opendsr/v2/results/{id}                purpose dsr     -> dsr-response
  GET  /healthz
  POST /witness/add-checkpoint, GET /witness/{sha256 of origin}/checkpoint  (C2SP tlog-witness,
       when the partner is given a `witness`; tillit_partner.witness)
A GET or DELETE is signed over "<METHOD> <path>", the path relative to the endpoint: a partner
mounted under /partner verifies "GET /opendsr/v2/discovery", not "GET /partner/opendsr/...".
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from tillit_partner import callbacks, protocol, signing
from tillit_partner.store import (
    CANCELLED,
    COMPLETED,
    IN_PROGRESS,
    PENDING,
    RequestRecord,
    Store,
    StoredLead,
)

if TYPE_CHECKING:  # the witness needs `cryptography`; the rest of the core does not
    from tillit_partner.witness import Witness

DSR = "/opendsr/v2"
# Larger than any lead, request or message tillit sends; a bigger body is refused unread.
MAX_BODY = 256 * 1024
# A request left in progress this long belongs to a worker that died: it is carried out again
# (each right is idempotent: erasing twice erases once).
STUCK_SECONDS = 300
Secrets = bytes | str | Sequence[bytes | str] | Callable[[], Sequence[bytes | str]]


@dataclass(frozen=True)
class Request:
    """An HTTP request as the partner received it. `path` is relative to the endpoint tillit
    was given ("/leads"); `base_url` is the endpoint as the client reached it (for the links
    the answers carry); header names are looked up case-insensitively."""

    method: str
    path: str
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    base_url: str = ""

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> object:
        return json.loads(self.body)


class Refusal(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class Partner:
    """A partner endpoint: verifies, parses, answers idempotently and carries out rights
    requests over `store`.

    `secret`: the shared secret (bytes or text), a list of them (both while tillit rotates
    it), or a function returning the list, read at every request (a rotation without a
    restart). `hold_seconds`: rights requests wait this long as pending before they are
    carried out (0: at once); `settle()` carries out those due and is also run whenever the
    rights API is used. `callback`: how status callbacks are sent (default: in a background
    thread, with retries). `witness`: a tillit_partner.witness.Witness, to serve as a witness
    of tillit's consent log under /witness."""

    def __init__(
        self,
        secret: Secrets,
        store: Store,
        *,
        controller_id: str = "tillit",
        hold_seconds: float = 0,
        tolerance: int = signing.TOLERANCE_SECONDS,
        callback: Callable[[str, bytes, str], None] | None = None,
        clock: Callable[[], float] = time.time,
        witness: Witness | None = None,
        endpoint: str = "",
    ) -> None:
        self.store = store
        self.witness = witness
        # The endpoint as tillit has it, for the links in answers; without it, as reached
        # (behind a proxy that changes the host or scheme, give it).
        self.endpoint = endpoint.rstrip("/")
        self.controller_id = controller_id
        self.hold_seconds = hold_seconds
        self.tolerance = tolerance
        self._secret = secret
        self._callback = callback or callbacks.send_in_background
        self._clock = clock
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., Response]]] = [
            ("POST", re.compile(r"/leads"), self._lead),
            ("POST", re.compile(r"/messages"), self._message),
            ("GET", re.compile(DSR + r"/discovery"), self._discovery),
            ("POST", re.compile(DSR + r"/requests"), self._new_request),
            ("GET", re.compile(DSR + r"/requests/([^/]+)"), self._status),
            ("DELETE", re.compile(DSR + r"/requests/([^/]+)"), self._cancel),
            ("GET", re.compile(DSR + r"/results/([^/]+)"), self._results),
            ("GET", re.compile(r"/healthz"), self._healthz),
        ]
        if witness is not None:
            self._routes += [
                ("POST", re.compile(r"/witness/add-checkpoint"), self._add_checkpoint),
                ("GET", re.compile(r"/witness/([0-9a-f]{64})/checkpoint"), self._checkpoint),
            ]

    # Dispatch

    def handle(self, request: Request) -> Response:
        """The answer to one request; never raises for anything the client sent."""
        allowed = []
        for method, pattern, view in self._routes:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            if method != request.method:
                allowed.append(method)
                continue
            if len(request.body) > MAX_BODY:
                return _plain(413, "the body is too large")
            return view(request, *match.groups())
        if allowed:
            return Response(
                405, b"method not allowed\n", "text/plain", {"Allow": ", ".join(allowed)}
            )
        return _plain(404, "not found")

    def secrets(self) -> list[bytes]:
        held = self._secret() if callable(self._secret) else self._secret
        keys = [held] if isinstance(held, bytes | str) else list(held)
        return [k.encode() if isinstance(k, str) else k for k in keys if k]

    def signed(self, data: object, status: int, purpose: str) -> Response:
        body = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
        header = signing.sign(self.secrets(), body, purpose=purpose, timestamp=self._now())
        return Response(status, body, headers={signing.HEADER: header})

    def _now(self) -> int:
        return int(self._clock())

    def _verify(self, request: Request, purpose: str, signed: bytes | None = None) -> None:
        try:
            signing.verify(
                self.secrets(),
                request.body if signed is None else signed,
                request.header(signing.HEADER),
                purpose=purpose,
                tolerance=self.tolerance,
                now=self._clock(),
            )
        except signing.SignatureError as error:
            raise Refusal(401, str(error)) from None

    # Leads

    def _lead(self, request: Request) -> Response:
        try:
            self._verify(request, "lead")
            lead = protocol.parse_lead(request.body)
            if request.header(signing.IDEMPOTENCY_HEADER) != lead.lead_id:
                raise Refusal(400, "Idempotency-Key must equal lead_id")
        except (Refusal, protocol.Invalid) as refusal:
            return self.signed({"status": "refused", "reason": refusal.reason}, refusal.status,
                               "receipt")  # fmt: skip
        digest = hashlib.sha256(request.body).hexdigest()
        stored, new = self.store.add_lead(lead, digest)
        if stored.digest != digest:
            reason = "this lead_id was used with a different body"
            return self.signed({"status": "refused", "reason": reason}, 409, "receipt")
        return self.signed(stored.receipt(), 201 if new else 200, "receipt")

    # Messages

    def _message(self, request: Request) -> Response:
        def answer(data: dict[str, str], status: int) -> Response:
            return self.signed(data, status, "message-receipt")

        try:
            self._verify(request, "message")
            message = protocol.parse_message(request.body)
        except (Refusal, protocol.Invalid) as refusal:
            return answer({"status": "refused", "reason": refusal.reason}, refusal.status)
        delivered = {"message_id": message.message_id, "status": "delivered"}
        if self.store.message_seen(message.message_id):
            return answer(delivered, 200)
        lead = _latest(self.store.leads(message.subject_ref))
        if lead is None:
            return answer({"status": "refused", "reason": "no such person"}, 404)
        if message.is_offer and not lead.may_get_offers():
            return answer({"status": "refused", "reason": "this person gets no offers"}, 410)
        new = self.store.add_message(message, lead)
        return answer(delivered, 201 if new else 200)

    # Rights requests (OpenDSR 2.0)

    def _dsr(self, data: object, status: int = 200) -> Response:
        return self.signed(data, status, "dsr-response")

    def _dsr_refused(self, status: int, reason: str) -> Response:
        return self._dsr({"error": {"code": status, "message": reason}}, status)

    def _verify_dsr(self, request: Request) -> None:
        """A POST is signed over its body, a GET or DELETE over "<METHOD> <path>"."""
        if request.method == "POST":
            self._verify(request, "dsr")
        else:
            self._verify(request, "dsr", f"{request.method} {request.path}".encode())

    def _discovery(self, request: Request) -> Response:
        try:
            self._verify_dsr(request)
        except Refusal as refusal:
            return self._dsr_refused(refusal.status, "signature missing or invalid")
        return self._dsr(
            {
                "api_version": "2.0",
                "supported_identities": [
                    {"identity_type": "controller_customer_id", "identity_format": "raw"}
                ],
                "supported_subject_request_types": list(protocol.OPENDSR_TYPES),
                "tillit_request_types": list(protocol.TILLIT_TYPES),
            }
        )

    def _new_request(self, request: Request) -> Response:
        try:
            self._verify_dsr(request)
            asked = protocol.parse_request(request.body)
        except Refusal as refusal:
            return self._dsr_refused(refusal.status, "signature missing or invalid")
        except protocol.Invalid as invalid:
            return self._dsr_refused(invalid.status, invalid.reason)
        exported = asked.type in ("access", "portability")
        record, new = self.store.add_request(
            RequestRecord(
                request_id=asked.request_id,
                type=asked.type,
                subject_ref=asked.subject_ref,
                callback_urls=asked.callback_urls,
                changes=asked.changes,
                results_url=(
                    f"{self.endpoint or request.base_url}{DSR}/results/{asked.request_id}"
                    if exported
                    else ""
                ),
            )
        )
        if not new:
            if record.status == PENDING and self.hold_seconds <= 0:
                # Taken before but never carried out (the process died): now.
                record = self.carry_out(record) or record
            return self._dsr(record.status_body(self.controller_id))
        if self.hold_seconds <= 0:
            record = self.carry_out(record) or record
        return self._dsr(record.status_body(self.controller_id), 201)

    def _held(self, request: Request, request_id: str) -> RequestRecord:
        self._verify_dsr(request)
        self.settle()
        record = self.store.get_request(_uuid(request_id))
        if record is None:
            raise Refusal(404, "no such request")
        return record

    def _status(self, request: Request, request_id: str) -> Response:
        try:
            record = self._held(request, request_id)
        except Refusal as refusal:
            return self._dsr_refused(refusal.status, _public(refusal))
        return self._dsr(record.status_body(self.controller_id))

    def _cancel(self, request: Request, request_id: str) -> Response:
        """OpenDSR allows a cancellation only while the request is pending (202); once
        carried out it cannot be undone (400)."""
        try:
            record = self._held(request, request_id)
        except Refusal as refusal:
            return self._dsr_refused(refusal.status, _public(refusal))
        cancelled = replace(record, status=CANCELLED, changes=None, changed_at=_utc())
        if record.status != PENDING or not self.store.update_request(cancelled, was=record):
            held = self.store.get_request(record.request_id) or record
            reason = f"only a pending request can be cancelled; it is {held.status}"
            return self._dsr_refused(400, reason)
        # No callback: tillit asked for the cancellation and has this answer.
        return self._dsr(cancelled.status_body(self.controller_id), 202)

    def _results(self, request: Request, request_id: str) -> Response:
        """An access or portability request's records, for the operator alone."""
        try:
            record = self._held(request, request_id)
        except Refusal as refusal:
            return self._dsr_refused(refusal.status, _public(refusal))
        if record.results is None:
            return self._dsr_refused(404, "no results for this request")
        return self._dsr({"subject_request_id": record.request_id, "records": record.results})

    # Carrying out

    def settle(self) -> int:
        """Carry out the requests whose hold has passed, and any left behind (a process that
        died after taking one and before carrying it out); how many. Run on every status,
        cancellation and results request; run it on a schedule too if tillit may not call for
        a while."""
        hold = max(self.hold_seconds, 0)
        due = self.store.due_requests(_utc() - timedelta(seconds=hold))
        if hold <= 0:
            # Carried out at once normally: what is still here was left behind.
            stuck = _utc() - timedelta(seconds=STUCK_SECONDS)
            due = [r for r in due if r.changed_at <= stuck]
        return sum(1 for record in due if self.carry_out(record))

    def carry_out(self, record: RequestRecord) -> RequestRecord | None:
        """Do what the request asks, to every lead of the person; mark it completed and call
        tillit back. None when another worker has it (the conditional update decided).
        An access request's records are kept for tillit to fetch, until the person's erasure."""
        if record.status == IN_PROGRESS:
            if _utc() - record.changed_at < timedelta(seconds=STUCK_SECONDS):
                return None
        elif record.status != PENDING:
            return None
        claimed = replace(record, status=IN_PROGRESS, changed_at=_utc())
        if not self.store.update_request(claimed, was=record):
            return None
        results = None
        if record.type in ("access", "portability"):
            results = tuple(self.store.export(record.subject_ref))
        affected = self._apply(record)
        done = replace(
            claimed,
            status=COMPLETED,
            completed_at=_utc(),
            changed_at=_utc(),
            leads_affected=affected,
            results=results,
            changes=None,
        )
        if not self.store.update_request(done, was=claimed):
            return None
        self._call_back(done)
        return done

    def _apply(self, record: RequestRecord) -> int:
        ref, store = record.subject_ref, self.store
        match record.type:
            case "erasure":
                store.forget_results(ref)
                return store.erase(ref)
            case "rectification":
                return store.rectify(ref, record.changes or {})
            case "restriction":
                return store.restrict(ref)
            case "objection":
                return store.object_to(ref)
            case "withdraw" | "stop_offers":
                purposes = frozenset({protocol.OFFERS}) if record.type == "stop_offers" else None
                return store.withdraw(ref, purposes, _utc().isoformat())
            case _:
                return len(store.leads(ref))

    def _call_back(self, record: RequestRecord) -> None:
        """OpenDSR's status callback: every callback URL, once each, signed `dsr-callback`."""
        for url in record.callback_urls:
            body = callbacks.body(record.status_body(self.controller_id), url)
            header = signing.sign(self.secrets(), body, purpose="dsr-callback")
            self._callback(url, body, header)

    def _healthz(self, request: Request) -> Response:
        return Response(200, b"ok", "text/plain")

    # The witness (C2SP tlog-witness): unsigned by tillit's secret; the log's key signs.

    def _add_checkpoint(self, request: Request) -> Response:
        from tillit_partner.witness import TEXT_TYPE, Refused

        assert self.witness is not None
        try:
            line = self.witness.cosign(request.body)
        except Refused as refusal:
            refusal.log()
            status, body, content_type = refusal.answer()
            return Response(status, body, content_type)
        return Response(200, line.encode(), TEXT_TYPE)

    def _checkpoint(self, request: Request, hashed: str) -> Response:
        from tillit_partner.witness import TEXT_TYPE

        assert self.witness is not None
        cosigned = self.witness.checkpoint(hashed)
        if cosigned is None:
            return _plain(404, "no checkpoint cosigned for that origin")
        return Response(200, cosigned.encode(), TEXT_TYPE)


def _latest(leads: list[StoredLead]) -> StoredLead | None:
    return max(leads, key=lambda s: s.received_at, default=None)


def _uuid(text: str) -> str:
    try:
        return protocol.uuid_text(text, "request id")
    except protocol.Invalid:
        return ""


def _public(refusal: Refusal) -> str:
    return "signature missing or invalid" if refusal.status == 401 else refusal.reason


def _plain(status: int, text: str) -> Response:
    return Response(status, text.encode() + b"\n", "text/plain")


def _utc() -> datetime:
    return datetime.now(UTC)
