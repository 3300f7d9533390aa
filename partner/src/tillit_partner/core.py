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

The rights API's views and the carrying out of requests are in _rights.py, Request and
Response in _http.py; this module is where they are public.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from tillit_partner import callbacks, protocol, signing
from tillit_partner._http import Refusal, Request, Response, plain
from tillit_partner._rights import DSR, RightsApi
from tillit_partner.store import Store, StoredLead

if TYPE_CHECKING:  # the witness needs `cryptography`; the rest of the core does not
    from tillit_partner.witness import Witness

# Larger than any lead, request or message tillit sends; a bigger body is refused unread.
MAX_BODY = 256 * 1024
Secrets = bytes | str | Sequence[bytes | str] | Callable[[], Sequence[bytes | str]]


class Partner(RightsApi):
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
                return plain(413, "the body is too large")
            return view(request, *match.groups())
        if allowed:
            return Response(
                405, b"method not allowed\n", "text/plain", {"Allow": ", ".join(allowed)}
            )
        return plain(404, "not found")

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
            return plain(404, "no checkpoint cosigned for that origin")
        return Response(200, cosigned.encode(), TEXT_TYPE)


def _latest(leads: list[StoredLead]) -> StoredLead | None:
    return max(leads, key=lambda s: s.received_at, default=None)
