"""Rights requests passed on to the partners that hold the person's data.

The shape is OpenDSR 2.0 (`/opendsr/v2/discovery`, `POST /requests`, `GET /requests/{id}`,
status callbacks), with tillit's own request types in `extensions.tillit` (OpenDSR knows only
access, portability and erasure) and tillit's shared-secret signature instead of OpenDSR's
X.509 one: `Tillit-Signature` over the raw body with the purposes `dsr` (tillit to partner),
`dsr-response` and `dsr-callback` (partner to tillit). A GET is signed over "GET <path>".
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from tillit import datamap
from tillit.audit.models import record
from tillit.datamap import Kind
from tillit.partners import signing
from tillit.partners.models import Delivery, DeliveryState, Partner
from tillit.partners.opendsr import (
    OPENDSR_TYPES,
    PREFIX,
    PartnerError,
    checked,
    get,
    headers,
    request_body,
)
from tillit.rights import tasks
from tillit.rights.models import PARTNER_TASK, RIGHTS_REQUEST, PartnerTask, RightsRequest, TaskState
from tillit.vault.models import Envelope

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("tillit.rights")
GIVE_UP_AFTER = timedelta(days=14)
POLL_EVERY = timedelta(minutes=5)
REMIND_EVERY = timedelta(days=5)


def recipients(subject_id: object) -> list[Partner]:
    """The partners the person's data went to, or may have: a delivery in flight, and one
    ever sent, whatever became of it since. A partner may keep a lead whose answer never came
    back (the connection dropped after it stored the lead, or it stored it and then failed):
    tillit retries it, or gives it up, and the partner holds it all the same."""
    ids = Delivery.objects.filter(
        Q(state__in=[DeliveryState.DELIVERED, DeliveryState.LEASED]) | Q(attempts__gt=0),
        subject_id=subject_id,
    ).values_list("partner_id", flat=True)
    return list(Partner.objects.filter(id__in=set(ids)))


AUTOMATIC = {
    Kind.RECTIFICATION,
    Kind.ACCESS,
    Kind.PORTABILITY,
    Kind.ERASURE,
    Kind.WITHDRAW,
    Kind.STOP_OFFERS,
    Kind.RESTRICTION,
    Kind.OBJECTION,
}


def plan(request: RightsRequest, partners: list[Partner] | None = None) -> int:
    """One task per recipient (`partners`, as read before tillit's own part ran, or read
    now); a request with none is done once tillit's part is."""
    if request.kind not in AUTOMATIC:
        return 0
    if partners is None:
        partners = recipients(request.subject_id) if request.subject_id else []
    PartnerTask.objects.bulk_create(PartnerTask(request=request, partner=p) for p in partners)
    if not partners:
        finish(request)
    return len(partners)


def body(task: PartnerTask, discovery: dict[str, Any]) -> dict[str, Any]:
    request = task.request
    supported = {
        (i.get("identity_type"), i.get("identity_format"))
        for i in discovery.get("supported_identities", [])
    }
    if ("controller_customer_id", "raw") not in supported:
        raise PartnerError("the partner does not take tillit's pseudonymous id")
    return request_body(
        str(task.id),
        request.kind,
        str(request.subject_id),
        submitted_time=request.received_at.isoformat(),
        callback_url=settings.SITE_URL + reverse("rights-callback", args=[task.partner.slug]),
        changes=_changes(request),
        regulation=_law(request).regulation,
    )


def _law(request: RightsRequest) -> datamap.Law:
    dm = datamap.load()
    return dm.law(request.subject.country if request.subject else dm.operator["country"])


def _changes(request: RightsRequest) -> dict[str, Any] | None:
    """A rectification's corrected values (sent to the partner, who holds the data)."""
    if request.kind != Kind.RECTIFICATION or request.details is None:
        return None
    changes = {k: v.reveal() for k, v in request.details.open().items()}
    if changes.get("country"):
        changes["country"] = datamap.iso_country(changes["country"])
    return changes


def send(client: httpx.Client, task: PartnerTask) -> None:
    partner = task.partner
    discovery = get(client, partner, "/discovery")
    kind = task.request.kind
    types = set(discovery.get("supported_subject_request_types", []))
    types |= set(discovery.get("tillit_request_types", []))
    if OPENDSR_TYPES.get(kind, kind) not in types and kind not in types:
        raise PartnerError(f"the partner does not take {kind} requests")
    raw = json.dumps(body(task, discovery), sort_keys=True, separators=(",", ":")).encode()
    response = client.post(
        partner.endpoint + PREFIX + "/requests",
        content=raw,
        headers=headers(partner, raw),
        timeout=settings.DELIVERY_TIMEOUT_SECONDS,
    )
    if response.status_code not in (200, 201):
        raise PartnerError(f"POST /requests answered {response.status_code}")
    answer = checked(partner, response, "dsr-response")
    if answer.get("subject_request_id") != str(task.id):
        raise PartnerError("the answer names another request")
    with transaction.atomic():
        # Its callback may have come first, and a worker that died before this point sends
        # the same request again (same id: the partner keeps one); it is recorded once.
        if PARTNER_TASK.apply(
            PartnerTask.objects.filter(id=task.id), "accept", sent_at=timezone.now()
        ):
            record(
                "rights.partner_sent",
                actor=f"partner:{partner.slug}",
                target=f"request:{task.request_id}",
            )
        update(task, answer)


def by_email(task: PartnerTask, now: datetime) -> None:
    """A partner without a rights API: e-mail its privacy contact a one-time link to answer,
    remind it every 5 days, and escalate to the privacy officer at 14 days. The claim is a
    conditional update, so two workers never send the same e-mail twice."""
    give_up_at = task.request.received_at + GIVE_UP_AFTER
    if now >= give_up_at:
        _failed(task, "no answer by e-mail within 14 days", now, give_up=True)
        return
    first = task.state == TaskState.WAITING
    with transaction.atomic():
        claimed = PARTNER_TASK.apply(
            PartnerTask.objects.filter(
                id=task.id, state=task.state, next_attempt_at=task.next_attempt_at
            ),
            "mail" if first else "remind",
            sent_at=task.sent_at or now,
            reminders=task.reminders + (0 if first else 1),
            next_attempt_at=min(now + REMIND_EVERY, give_up_at),
        )
        if not claimed:
            return  # another worker took it a moment ago
        record(
            "rights.partner_mailed" if first else "rights.partner_reminded",
            actor="worker",
            target=f"request:{task.request_id}",
            partner=task.partner.slug,
        )
        tasks.send_partner_request.enqueue(str(task.id), not first)


def answered(task: PartnerTask, answer: str, upload: Envelope | None, actor: str = "") -> None:
    """A partner's answer through its one-time link: done (with the export, for access and
    portability) or holds no data about the person."""
    with transaction.atomic():
        won = PartnerTask.objects.filter(id=task.id, state__in=PARTNER_TASK.sources("done")).update(
            answer=answer, answer_file=upload
        )
        if not won:
            raise PartnerError("this request has been answered already")
        update(task, {"request_status": "completed"}, actor=actor or f"partner:{task.partner.slug}")


# A partner's status, and the move it makes. Any other status (a partner's own words for
# "we have it") is taken as pending.
STATUS_MOVES = {
    "pending": (TaskState.PENDING, "wait"),
    "in_progress": (TaskState.IN_PROGRESS, "progress"),
    "completed": (TaskState.COMPLETED, "done"),
}


def update(task: PartnerTask, status: dict[str, Any], actor: str = "") -> None:
    """Apply a partner's status (from a create answer, a poll or a callback). A status that
    its lifecycle does not let the task move to (a done or withdrawn task; a pending one for
    a task being withdrawn, or given up) changes nothing: a duplicate or late answer is
    harmless."""
    now = timezone.now()
    state, move = STATUS_MOVES.get(str(status.get("request_status")), STATUS_MOVES["pending"])
    fields: dict[str, Any] = {
        "next_attempt_at": now + POLL_EVERY,
        "last_error": "",
        "results_url": str(status.get("results_url") or "")[:500],
    }
    with transaction.atomic():
        fresh = PartnerTask.objects.select_for_update().get(id=task.id)
        rows = PartnerTask.objects.filter(id=fresh.id)
        fields["sent_at"] = fresh.sent_at or now
        if fresh.state == state:
            if fresh.state in (TaskState.PENDING, TaskState.IN_PROGRESS):
                rows.update(**fields)  # still as it was: poll again later
            return
        if not PARTNER_TASK.allows(fresh.state, move):
            return
        if state == TaskState.COMPLETED:
            fields["completed_at"] = now
        PARTNER_TASK.apply(rows, move, **fields)
        if state == TaskState.COMPLETED:
            record(
                "rights.partner_done",
                actor=actor or f"partner:{fresh.partner.slug}",
                target=f"request:{fresh.request_id}",
            )
            pending = PartnerTask.objects.filter(request_id=fresh.request_id).exclude(
                state=TaskState.COMPLETED
            )
            if not pending.exists():
                finish(fresh.request)


def finish(request: RightsRequest) -> None:
    """Everyone has done their part: close the request and tell the person (with the
    recipients told, Art. 19)."""
    won = RIGHTS_REQUEST.apply(
        RightsRequest.objects.filter(id=request.id),
        "complete",
        completed_at=timezone.now(),
        outcome=request.outcome or "done",
    )
    if won:
        # The corrected values have reached everyone who needed them. (A portability request's
        # details name the recipient: they stay until the copy has been sent.)
        if request.details_id and request.kind != Kind.PORTABILITY:
            Envelope.objects.filter(id=request.details_id).shred()
        record("rights.completed", actor="worker", target=f"request:{request.id}")
        transaction.on_commit(lambda: tasks.send_completed.enqueue(str(request.id)))


def cancel(client: httpx.Client, task: PartnerTask) -> None:
    """Withdraw a request the partner has not yet carried out (OpenDSR: DELETE, accepted only
    while it is pending). If the partner has acted already, its status is taken as it is."""
    partner, path = task.partner, f"{PREFIX}/requests/{task.id}"
    response = client.delete(
        partner.endpoint + path,
        headers=headers(partner, f"DELETE {path}".encode()),
        timeout=settings.DELIVERY_TIMEOUT_SECONDS,
    )
    if response.status_code in (202, 404):
        if response.status_code == 202:
            checked(partner, response, "dsr-response")
        # 404: it never arrived, so there is nothing to withdraw; the partner said so.
        with transaction.atomic():
            if PARTNER_TASK.apply(
                PartnerTask.objects.filter(id=task.id), "withdrawn", last_error=""
            ):
                record(
                    "rights.partner_cancelled",
                    actor=f"partner:{partner.slug}",
                    target=f"request:{task.request_id}",
                    arrived=response.status_code == 202,
                )
    elif response.status_code in (400, 409):  # carried out already, or being carried out
        update(task, get(client, partner, f"/requests/{task.id}"))
    else:
        raise PartnerError(f"DELETE /requests answered {response.status_code}")


def _failed(task: PartnerTask, error: str, now: datetime, give_up: bool = False) -> None:
    attempts = task.attempts + 1
    give_up = give_up or task.request.received_at + GIVE_UP_AFTER <= now
    rows = PartnerTask.objects.filter(id=task.id)
    fields = {
        "attempts": attempts,
        "last_error": error[:200],
        "next_attempt_at": now + min(timedelta(seconds=30 * 2**attempts), timedelta(hours=6)),
    }
    log.warning("rights task %s at %s: %s", task.id, task.partner.slug, error)
    # The state is left as it stands in the database: a callback may have settled the task
    # while this attempt failed.
    if not give_up:
        rows.update(**fields)
        return
    if PARTNER_TASK.apply(rows, "give_up", **fields):
        # Escalation: the privacy officer must now reach the partner another way.
        record(
            "rights.partner_failed",
            actor="worker",
            target=f"request:{task.request_id}",
            partner=task.partner.slug,
        )
        tasks.send_overdue_alarm.enqueue(str(task.request_id))


def step(client: httpx.Client, batch: int = 20) -> int:
    """Send what waits, poll what has not called back; returns how many were handled."""
    import httpx  # the worker's: a web process does not load it at start

    now = timezone.now()
    due = PartnerTask.objects.select_related("partner", "request").filter(
        state__in=[
            TaskState.WAITING,
            TaskState.PENDING,
            TaskState.IN_PROGRESS,
            TaskState.CANCELLING,
        ],
        next_attempt_at__lte=now,
    )[:batch]
    handled = 0
    for task in due:
        try:
            if task.state == TaskState.CANCELLING:
                cancel(client, task)
            elif not task.partner.rights_api:
                by_email(task, now)
            elif task.state == TaskState.WAITING:
                send(client, task)
            else:
                update(task, get(client, task.partner, f"/requests/{task.id}"))
        except (httpx.HTTPError, signing.SignatureError, PartnerError, ValueError) as error:
            _failed(task, f"{type(error).__name__}: {error}", now)
        handled += 1
    return handled
