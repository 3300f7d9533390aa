"""Where a partner keeps what it receives: the `Store` it implements over its own database.

The library decides what the protocol asks (idempotency, which answer, when a request is
carried out); the store keeps the data and does what each right means to it. Two rules make
retries and races safe, and a store must keep them: `add_lead`, `add_request` and
`add_message` insert only when the id is new (a unique key) and say whether they did, and
`update_request` changes a request only if its status is still the one the library read (a
conditional UPDATE on its status and when it last changed), so of two workers carrying out one
request only one does. Datetimes are timezone-aware (UTC).

`MemoryStore` keeps everything in the process: for trying the library and for tests.
"""

from __future__ import annotations

import abc
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from tillit_partner.protocol import OFFERS, Consent, Lead, Message

PENDING, IN_PROGRESS, COMPLETED, CANCELLED = "pending", "in_progress", "completed", "cancelled"


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class StoredLead:
    """A lead as the partner holds it: its id for it, and the person's consents and limits as
    they stand now (the rights requests change them)."""

    lead: Lead
    partner_lead_id: str
    received_at: datetime
    digest: str
    consents: tuple[Consent, ...]
    restricted: bool = False
    objected: bool = False

    def may_get_offers(self) -> bool:
        """An offer needs the consent to offers given, and the use neither restricted (Art. 18)
        nor objected to (Art. 21)."""
        return not (self.restricted or self.objected) and self.lead.offers_allowed(self.consents)

    def receipt(self) -> dict[str, str]:
        return {
            "lead_id": self.lead.lead_id,
            "partner_lead_id": self.partner_lead_id,
            "status": "accepted",
            "received_at": self.received_at.isoformat(),
        }

    def record(self) -> dict[str, object]:
        """What an access request returns of this lead."""
        lead = self.lead
        return {
            "partner_lead_id": self.partner_lead_id,
            "lead_id": lead.lead_id,
            "subject_ref": lead.subject_ref,
            "name": lead.name,
            "email": lead.email,
            "phone": lead.phone or "",
            "country": lead.country,
            "language": lead.language,
            "consents": [c.as_dict() for c in self.consents],
            "received_at": self.received_at.isoformat(),
            "restricted": self.restricted,
            "objected": self.objected,
        }


@dataclass(frozen=True)
class RequestRecord:
    """A rights request the partner received, and what became of it."""

    request_id: str
    type: str
    subject_ref: str
    status: str = PENDING
    callback_urls: tuple[str, ...] = ()
    received_at: datetime = field(default_factory=now)
    changed_at: datetime = field(default_factory=now)
    completed_at: datetime | None = None
    leads_affected: int = 0
    # For access and portability: the person's records as they were when it was carried out.
    results: tuple[dict[str, object], ...] | None = None
    results_url: str = ""
    # A rectification's values, kept only until it is carried out or cancelled.
    changes: Mapping[str, str] | None = None

    def status_body(self, controller_id: str = "tillit") -> dict[str, object]:
        """OpenDSR's status object."""
        return {
            "controller_id": controller_id,
            "subject_request_id": self.request_id,
            "request_status": self.status,
            "expected_completion_time": (self.completed_at or self.received_at).isoformat(),
            "api_version": "2.0",
            **({"results_url": self.results_url} if self.results_url else {}),
        }


def withdrawn(
    consents: tuple[Consent, ...], purposes: frozenset[str] | None, at: str
) -> tuple[Consent, ...]:
    """The consents with each given one withdrawn at `at` (only those for `purposes`, unless
    None: all)."""
    return tuple(
        replace(c, action="withdrawn", at=at)
        if c.action == "given" and (purposes is None or c.purpose in purposes)
        else c
        for c in consents
    )


class Store(abc.ABC):
    """What the library needs from the partner's database. Each right's method returns how
    many leads of the person it changed (0 when it holds none)."""

    # Leads

    @abc.abstractmethod
    def add_lead(self, lead: Lead, digest: str) -> tuple[StoredLead, bool]:
        """Store the lead unless one with its lead_id is stored; the stored one either way,
        and True if it is new. Must be atomic on lead_id (a unique key), so that two
        deliveries racing store one lead."""

    @abc.abstractmethod
    def leads(self, subject_ref: str) -> list[StoredLead]:
        """Every lead of the person, oldest first."""

    # Rights

    @abc.abstractmethod
    def erase(self, subject_ref: str) -> int:
        """Delete every lead of the person, and what the partner keeps of the messages it
        delivered to them (their address is in them) (Art. 17)."""

    @abc.abstractmethod
    def rectify(self, subject_ref: str, changes: Mapping[str, str]) -> int:
        """Apply corrected values (any of protocol.CORRECTABLE) to the person's leads (Art. 16)."""

    @abc.abstractmethod
    def restrict(self, subject_ref: str) -> int:
        """Keep the data but use it for nothing beyond storing it (Art. 18)."""

    @abc.abstractmethod
    def object_to(self, subject_ref: str) -> int:
        """Record the person's objection: no more use resting on legitimate interest (Art. 21)."""

    @abc.abstractmethod
    def withdraw(self, subject_ref: str, purposes: frozenset[str] | None, at: str) -> int:
        """Withdraw the given consents (for `purposes`, or all when None) at `at`; see
        `withdrawn()`."""

    def export(self, subject_ref: str) -> list[dict[str, object]]:
        """What access and portability requests return: the person's leads, and anything
        else the partner holds about them (override to add it)."""
        return [stored.record() for stored in self.leads(subject_ref)]

    # Rights requests

    @abc.abstractmethod
    def add_request(self, record: RequestRecord) -> tuple[RequestRecord, bool]:
        """Store the request unless one with its id is stored; as add_lead."""

    @abc.abstractmethod
    def get_request(self, request_id: str) -> RequestRecord | None: ...

    @abc.abstractmethod
    def update_request(self, record: RequestRecord, *, was: RequestRecord) -> bool:
        """Replace the stored request with `record` if it is still as `was` (the same status
        and changed_at: a conditional UPDATE); whether it was replaced."""

    @abc.abstractmethod
    def forget_results(self, subject_ref: str) -> None:
        """Drop the results (and corrections) kept with the person's earlier requests: an
        erasure leaves nothing of them, in the requests either."""

    @abc.abstractmethod
    def due_requests(self, received_before: datetime) -> list[RequestRecord]:
        """The pending requests received before the time (whose hold has passed), and those
        in progress that long (a worker that died while carrying one out)."""

    # Messages

    @abc.abstractmethod
    def message_seen(self, message_id: str) -> bool:
        """Whether this message was delivered already (a repeat)."""

    @abc.abstractmethod
    def add_message(self, message: Message, lead: StoredLead) -> bool:
        """Deliver the message to the person of the lead (by the partner's own e-mail or
        post), recording its id; False if it was recorded already (a race)."""


class MemoryStore(Store):
    """Everything in this process's memory, guarded by one lock: for trying the library and
    for tests. A restart forgets it all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._leads: dict[str, StoredLead] = {}
        self._requests: dict[str, RequestRecord] = {}
        self.messages: dict[str, tuple[Message, StoredLead]] = {}

    def add_lead(self, lead: Lead, digest: str) -> tuple[StoredLead, bool]:
        with self._lock:
            if lead.lead_id in self._leads:
                return self._leads[lead.lead_id], False
            stored = StoredLead(lead, str(uuid.uuid4()), now(), digest, lead.consents)
            self._leads[lead.lead_id] = stored
            return stored, True

    def leads(self, subject_ref: str) -> list[StoredLead]:
        with self._lock:
            return [s for s in self._leads.values() if s.lead.subject_ref == subject_ref]

    def _change(self, subject_ref: str, **changes: object) -> int:
        with self._lock:
            mine = [k for k, s in self._leads.items() if s.lead.subject_ref == subject_ref]
            for key in mine:
                self._leads[key] = _changed(self._leads[key], changes)
            return len(mine)

    def erase(self, subject_ref: str) -> int:
        with self._lock:
            mine = [k for k, s in self._leads.items() if s.lead.subject_ref == subject_ref]
            for key in mine:
                del self._leads[key]
            for message_id, (message, _lead) in list(self.messages.items()):
                if message.subject_ref == subject_ref:
                    del self.messages[message_id]
            return len(mine)

    def rectify(self, subject_ref: str, changes: Mapping[str, str]) -> int:
        return self._change(subject_ref, lead_fields=dict(changes))

    def restrict(self, subject_ref: str) -> int:
        return self._change(subject_ref, restricted=True)

    def object_to(self, subject_ref: str) -> int:
        return self._change(subject_ref, objected=True)

    def withdraw(self, subject_ref: str, purposes: frozenset[str] | None, at: str) -> int:
        return self._change(subject_ref, withdraw=(purposes, at))

    def add_request(self, record: RequestRecord) -> tuple[RequestRecord, bool]:
        with self._lock:
            if record.request_id in self._requests:
                return self._requests[record.request_id], False
            self._requests[record.request_id] = record
            return record, True

    def get_request(self, request_id: str) -> RequestRecord | None:
        with self._lock:
            return self._requests.get(request_id)

    def update_request(self, record: RequestRecord, *, was: RequestRecord) -> bool:
        with self._lock:
            held = self._requests.get(record.request_id)
            if held is None or (held.status, held.changed_at) != (was.status, was.changed_at):
                return False
            self._requests[record.request_id] = record
            return True

    def forget_results(self, subject_ref: str) -> None:
        with self._lock:
            for key, held in self._requests.items():
                if held.subject_ref == subject_ref:
                    self._requests[key] = replace(held, results=None, changes=None)

    def due_requests(self, received_before: datetime) -> list[RequestRecord]:
        with self._lock:
            return [
                r
                for r in self._requests.values()
                if r.status in (PENDING, IN_PROGRESS) and r.received_at <= received_before
            ]

    def message_seen(self, message_id: str) -> bool:
        with self._lock:
            return message_id in self.messages

    def add_message(self, message: Message, lead: StoredLead) -> bool:
        with self._lock:
            if message.message_id in self.messages:
                return False
            self.messages[message.message_id] = (message, lead)
            return True


def _changed(stored: StoredLead, changes: Mapping[str, object]) -> StoredLead:
    if "lead_fields" in changes:
        fields = changes["lead_fields"]
        assert isinstance(fields, dict)
        return replace(stored, lead=replace(stored.lead, **fields))
    if "withdraw" in changes:
        purposes, at = changes["withdraw"]  # type: ignore[misc]
        return replace(stored, consents=withdrawn(stored.consents, purposes, at))
    return replace(stored, **changes)  # type: ignore[arg-type]


__all__ = [
    "CANCELLED",
    "COMPLETED",
    "IN_PROGRESS",
    "OFFERS",
    "PENDING",
    "MemoryStore",
    "RequestRecord",
    "Store",
    "StoredLead",
    "withdrawn",
]
