"""The partner's rights API (OpenDSR 2.0, with tillit's own request types): taking a request,
answering for its status, cancelling it while it is pending, handing over an access
request's records, and carrying requests out over the store, with a status callback to
tillit for each one carried out.

RightsApi is a part of tillit_partner.core.Partner, which gives it the store, the secrets,
the signing and verifying of messages, and its settings (controller_id, hold_seconds,
endpoint, the callback sender).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from tillit_partner import callbacks, protocol, signing
from tillit_partner._http import Refusal, Request, Response
from tillit_partner.store import (
    CANCELLED,
    COMPLETED,
    IN_PROGRESS,
    PENDING,
    RequestRecord,
    Store,
)

DSR = "/opendsr/v2"
# A request left in progress this long belongs to a worker that died: it is carried out again
# (each right is idempotent: erasing twice erases once).
STUCK_SECONDS = 300


class RightsApi:
    """The views of the rights API under /opendsr/v2, and the carrying out of requests. Its
    host class also gives it `secrets()`, `signed()` and `_verify()`."""

    store: Store
    controller_id: str
    hold_seconds: float
    endpoint: str
    _callback: Callable[[str, bytes, str], None]

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


def _uuid(text: str) -> str:
    try:
        return protocol.uuid_text(text, "request id")
    except protocol.Invalid:
        return ""


def _public(refusal: Refusal) -> str:
    return "signature missing or invalid" if refusal.status == 401 else refusal.reason


def _utc() -> datetime:
    return datetime.now(UTC)
