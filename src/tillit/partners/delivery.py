"""Delivering leads: claim due jobs, send them signed, verify the receipt, shred the envelope."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import secrets
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from tillit.audit.models import new_event, record, record_all
from tillit.consent.models import ConsentRecord
from tillit.core import rows
from tillit.partners import signing
from tillit.partners.models import DELIVERY, Delivery, DeliveryState, Partner
from tillit.partners.posting import NETWORK_ERRORS, Poster
from tillit.vault.models import Envelope

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
BACKOFF_BASE_SECONDS = 10
BACKOFF_CAP_SECONDS = 3600


@dataclass
class Outcome:
    delivery: Delivery
    ok: bool
    partner_reference: str = ""
    receipt_hash: str = ""
    error: str = ""


def claim(batch: int, now: datetime | None = None) -> list[Delivery]:
    """Lease up to `batch` due jobs to this caller. A job is leased to one worker at a time.

    Leases whose worker went away are taken first, then queued jobs in the order they fell
    due; each is read along an index in that order, so a backlog of any size is never sorted.
    The UPDATE repeats the "due" condition, so of two workers that picked the same row only
    one changes it; on PostgreSQL, SKIP LOCKED lets them pick different rows to begin with.
    """
    now = now or timezone.now()
    token = secrets.token_hex(16)
    with transaction.atomic():
        ids = _pick(
            Delivery.objects.filter(state=DeliveryState.LEASED, lease_expires_at__lt=now),
            "lease_expires_at",
            batch,
        )
        ids += _pick(
            Delivery.objects.filter(state=DeliveryState.PENDING, next_attempt_at__lte=now),
            "next_attempt_at",
            batch - len(ids),
        )
        if not ids:
            return []
        DELIVERY.apply(
            Delivery.objects.filter(id__in=ids).due(now),
            "claim",
            lease_token=token,
            lease_expires_at=now + LEASE,
            attempts=F("attempts") + 1,
        )
    return list(
        Delivery.objects.filter(lease_token=token, state=DeliveryState.LEASED).select_related(
            "partner", "envelope", "subject"
        )
    )


def _pick(jobs: QuerySet[Delivery], order: str, limit: int) -> list[object]:
    if limit <= 0:
        return []
    jobs = jobs.order_by(order)
    if connection.vendor == "postgresql":
        jobs = jobs.select_for_update(skip_locked=True)
    return list(jobs.values_list("id", flat=True)[:limit])


def payload(delivery: Delivery, records: list[ConsentRecord] | None = None) -> bytes:
    """The lead as the partner receives it; the same bytes on every attempt. `records` are the
    person's consent records, when the caller has read them already."""
    assert delivery.envelope is not None
    lead = {k: v.reveal() for k, v in delivery.envelope.open().items()}
    if records is None:
        records = list(ConsentRecord.objects.filter(subject_id=delivery.subject_id))
    consents = [
        {
            "purpose": c.purpose,
            "action": c.action,
            "lawful_basis": c.lawful_basis,
            "policy_version": c.policy_version,
            "text_hash": c.text_hash,
            "receipt_id": str(c.receipt_id),
            "at": c.at.isoformat(),
        }
        for c in records
    ]
    body = {
        "lead_id": str(delivery.id),
        "subject_ref": str(delivery.subject_id),
        **lead,
        "confirmed_at": _iso(delivery.subject.confirmed_at),
        "consents": consents,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def send(poster: Poster, delivery: Delivery, body: bytes, secret: bytes | list[bytes]) -> Outcome:
    """POST one lead and check the partner's signed receipt. Never raises, and never touches
    the database: it runs in the batch's sending threads, where each query would open (and
    leave open) a database connection of its own."""
    partner = delivery.partner
    headers = {
        "Content-Type": "application/json",
        signing.HEADER: signing.sign(secret, body, purpose="lead"),
        signing.IDEMPOTENCY_HEADER: str(delivery.id),
    }
    try:
        response = poster.post(
            partner.endpoint.rstrip("/") + "/leads",
            body,
            headers,
            timeout=settings.DELIVERY_TIMEOUT_SECONDS,
        )
    except NETWORK_ERRORS as error:
        return Outcome(delivery, False, error=f"network: {type(error).__name__}")
    except Exception as error:  # an endpoint httpcore cannot use: never a crash, but told
        log.exception("lead %s to partner %s: request not sent", delivery.id, partner.slug)
        return Outcome(delivery, False, error=f"request not sent: {type(error).__name__}")
    if response.status not in (200, 201):
        return Outcome(delivery, False, error=f"partner answered HTTP {response.status}")
    try:
        signing.verify(
            secret,
            response.content,
            response.headers.get(signing.HEADER.lower()),
            purpose="receipt",
        )
        receipt = json.loads(response.content)
    except (signing.SignatureError, ValueError) as error:
        return Outcome(delivery, False, error=f"receipt refused: {error}")
    if receipt.get("lead_id") != str(delivery.id) or receipt.get("status") != "accepted":
        return Outcome(delivery, False, error="receipt refused: it is for another lead")
    return Outcome(
        delivery,
        True,
        partner_reference=str(receipt.get("partner_lead_id", ""))[:100],
        receipt_hash=hashlib.sha256(response.content).hexdigest(),
    )


@dataclass
class Sending:
    """A claimed batch whose requests are on their way (futures of the sending threads)."""

    deliveries: list[Delivery]
    outcomes: list[Future[Outcome]]


def start(poster: Poster, pool: ThreadPoolExecutor, batch: int) -> Sending | None:
    """Claim a batch and hand its requests to the sending threads; None when nothing is due."""
    deliveries = claim(batch)
    if not deliveries:
        return None
    records: dict[object, list[ConsentRecord]] = {d.subject_id: [] for d in deliveries}
    for c in ConsentRecord.objects.filter(subject_id__in=list(records)):  # in the model's order
        records[c.subject_id].append(c)
    bodies = {d.id: payload(d, records[d.subject_id]) for d in deliveries if d.envelope is not None}
    # Everything the sending threads need is read here, in the worker's own connection.
    partner_secrets = {d.partner_id: d.partner.secrets() for d in deliveries if d.id in bodies}
    return Sending(
        deliveries,
        [
            pool.submit(send, poster, d, bodies[d.id], partner_secrets[d.partner_id])
            for d in deliveries
            if d.id in bodies
        ],
    )


def finish(sending: Sending) -> int:
    """Wait for a batch's answers and record them; return how many jobs were handled."""
    outcomes = [future.result() for future in sending.outcomes]
    with transaction.atomic():
        _record_successes([o for o in outcomes if o.ok])
        for outcome in outcomes:
            if not outcome.ok:
                _record_failure(outcome)
    _bring_forward(
        {o.delivery.partner for o in outcomes if o.ok and o.delivery.attempts > 1},
        keep={o.delivery.id for o in outcomes if not o.ok},
    )
    return len(sending.deliveries)


def deliver_batch(poster: Poster, batch: int = 64) -> int:
    """Claim, send (concurrently) and record one batch; return how many jobs were handled."""
    with ThreadPoolExecutor(max_workers=settings.DELIVERY_CONCURRENCY) as pool:
        sending = start(poster, pool, batch)
        return finish(sending) if sending else 0


class Pipeline:
    """The worker's deliveries, one batch on its way while the one before is recorded.

    Each step claims and sends the next batch, then records the answers of the batches sent
    before it: the partner works on one batch while the worker writes the other and does the
    rest of its step, where deliver_batch would leave one of them idle. A batch waiting to be
    recorded is still leased to this worker, and each step renews its lease before claiming,
    so a slow step (a partner that does not answer, a stalled mail server) never lets this
    worker claim its own batch again. If the worker dies first, the lease runs out and the
    leads are sent again under the same Idempotency-Key, as after any crash between sending
    and recording. A batch that could not be recorded (the database away) waits for the next
    step; `flush` records them all, and `close` does so and stops the sending threads.
    """

    def __init__(self, poster: Poster, batch: int = 64) -> None:
        self.poster, self.batch = poster, batch
        self.pool = ThreadPoolExecutor(
            max_workers=settings.DELIVERY_CONCURRENCY, thread_name_prefix="tillit-send"
        )
        self.sent: list[Sending] = []  # oldest first, none recorded yet
        self.closed = False

    def step(self) -> int:
        """Send the next batch and record the ones before it; return how many jobs were sent
        or recorded (0 only when nothing was waiting and nothing is due)."""
        if self.closed:
            raise RuntimeError("this pipeline is closed")
        self._renew()
        new = start(self.poster, self.pool, self.batch)
        before = len(self.sent)
        if new:
            self.sent.append(new)  # kept before recording: a failure below must not lose it
        return (len(new.deliveries) if new else 0) + self._record(before)

    def flush(self) -> int:
        """Record every batch sent (waiting for its answers); return how many jobs."""
        return self._record(len(self.sent))

    def _record(self, count: int) -> int:
        done = 0
        for _ in range(count):
            done += finish(self.sent[0])
            self.sent.pop(0)
        return done

    def _renew(self) -> None:
        tokens = {s.deliveries[0].lease_token for s in self.sent}
        if tokens:
            Delivery.objects.filter(lease_token__in=tokens, state=DeliveryState.LEASED).update(
                lease_expires_at=timezone.now() + LEASE
            )

    def close(self) -> None:
        """Record what was sent (if that fails, the leases run out and the leads are sent
        again) and stop the sending threads."""
        self.closed = True
        try:
            self.flush()
        finally:
            self.pool.shutdown(wait=True)


# What a partner's failure says when it was down, not when it refused the lead.
UNAVAILABLE = Q(last_error__startswith="network:") | Q(
    last_error__startswith="partner answered HTTP 5"
)


def _bring_forward(back: set[Partner], keep: set[object]) -> None:
    """A partner that takes a lead it failed before is back: its other leads waiting out a
    retry step because it was down are due now. Without this, leads held back by a long outage
    would wait up to BACKOFF_CAP_SECONDS more after the partner is back. Leads it refused
    (4xx, 429, a bad receipt) keep their step, and so do leads that failed in this batch."""
    now = timezone.now()
    for partner in back:
        count = (
            Delivery.objects.filter(
                UNAVAILABLE, partner=partner, state=DeliveryState.PENDING, next_attempt_at__gt=now
            )
            .exclude(id__in=keep)
            .update(next_attempt_at=now)
        )
        if count:
            log.info(
                "partner %s answers again: %d waiting lead(s) are due now", partner.slug, count
            )


def _record_successes(outcomes: list[Outcome]) -> None:
    """The delivered leads whose lease is still ours (a lease that ran out went to another
    worker, which records the result): their jobs marked delivered, their envelopes shredded
    and their audit events appended, one statement each for the whole batch."""
    if not outcomes:
        return
    now = timezone.now()
    # One claim leased the whole batch under one token.
    ours = Delivery.objects.filter(
        id__in=[o.delivery.id for o in outcomes],
        lease_token__in={o.delivery.lease_token for o in outcomes},
        state__in=DELIVERY.sources("deliver"),
    )
    if connection.vendor == "postgresql":
        ours = ours.select_for_update()
    held = set(ours.values_list("id", flat=True))
    won = [o for o in outcomes if o.delivery.id in held]
    if not won:
        return
    # The move "deliver", one row each (their references differ), on rows locked just above.
    delivered = DELIVERY.move("deliver").target
    rows.update_many(
        Delivery,
        ["state", "delivered_at", "envelope", "lease_token", "partner_reference",
         "receipt_hash", "last_error"],
        [(o.delivery.id, [delivered, now, None, "", o.partner_reference,
                          o.receipt_hash, ""]) for o in won],
    )  # fmt: skip
    # Shredded: a lead's envelope is pointed to by its delivery alone, unlinked just above.
    rows.delete_unreferenced(Envelope, [o.delivery.envelope_id for o in won])
    record_all(
        [
            new_event(
                "lead.delivered",
                actor="worker",
                target=o.delivery.subject.ref,
                delivery=str(o.delivery.id),
                partner=o.delivery.partner.slug,
                receipt_hash=o.receipt_hash,
            )
            for o in won
        ]
    )


def _record_failure(outcome: Outcome) -> None:
    d = outcome.delivery
    now = timezone.now()
    if d.age(now) > timedelta(hours=settings.DELIVERY_MAX_AGE_HOURS):
        fail(d, outcome.error, now, leased=True)
        return
    DELIVERY.apply(
        Delivery.objects.filter(id=d.id, lease_token=d.lease_token),
        "retry",
        lease_token="",
        last_error=outcome.error[:200],
        next_attempt_at=now + backoff(d.attempts),
    )


def backoff(attempts: int) -> timedelta:
    """Exponential backoff with jitter: half the step fixed, half random."""
    step = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0))
    return timedelta(seconds=step / 2 + random.uniform(0, step / 2))


def fail(d: Delivery, error: str, now: datetime, leased: bool = False) -> None:
    """Give up on a lead: shred it, and leave a visible failed case without personal data.
    `leased`: only while the lease `d` was sent under is still held (another claim may be
    sending it now)."""
    jobs = Delivery.objects.filter(id=d.id)
    if leased:
        jobs = jobs.filter(lease_token=d.lease_token, state=DeliveryState.LEASED)
    won = DELIVERY.apply(
        jobs,
        "fail",
        envelope=None,
        lease_token="",
        last_error=(error or "too old")[:200],
    )
    if won:
        Envelope.objects.filter(id=d.envelope_id).shred()
        record(
            "lead.failed",
            actor="worker",
            target=f"subject:{d.subject_id}",
            delivery=str(d.id),
            partner_id=d.partner_id,
            reason=(error or "too old")[:200],
        )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
