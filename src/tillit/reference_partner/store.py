"""The reference partner's database as the partner library's Store: what a partner writes to
put the library over its own models. Races are settled by the database: a unique lead_id and
request id, and a conditional UPDATE whose row count says who moved a request."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from tillit_partner import Consent, Lead, Message, RequestRecord, Store, StoredLead, withdrawn

from tillit.reference_partner import models


class DatabaseStore(Store):
    def add_lead(self, lead: Lead, digest: str) -> tuple[StoredLead, bool]:
        existing = models.Lead.objects.filter(lead_id=lead.lead_id).first()
        if existing:
            return _stored(existing), False
        try:
            with transaction.atomic():
                row = models.Lead.objects.create(
                    lead_id=lead.lead_id,
                    body_sha256=digest,
                    subject_ref=lead.subject_ref[:64],
                    name=lead.name[:200],
                    email=lead.email[:254],
                    phone=(lead.phone or "")[:40],
                    country=lead.country[:2],
                    language=lead.language[:5],
                    consents=[c.as_dict() for c in lead.consents],
                    test=lead.test,
                )
        except IntegrityError:
            # Two deliveries raced; the other one stored it.
            return _stored(models.Lead.objects.get(lead_id=lead.lead_id)), False
        if settings.PARTNER_ANSWER_DELAY_MS:
            # A partner that stores a lead and answers late (PARTNER_ANSWER_DELAY_MS).
            time.sleep(settings.PARTNER_ANSWER_DELAY_MS / 1000)
        return _stored(row), True

    def leads(self, subject_ref: str) -> list[StoredLead]:
        rows = models.Lead.objects.filter(subject_ref=subject_ref).order_by("received_at")
        return [_stored(row) for row in rows]

    def _of(self, subject_ref: str) -> QuerySet[models.Lead]:
        return models.Lead.objects.filter(subject_ref=subject_ref)

    def erase(self, subject_ref: str) -> int:
        """The leads and the messages delivered to the person (their address is in them)."""
        with transaction.atomic():
            models.Message.objects.filter(lead__subject_ref=subject_ref).delete()
            return self._of(subject_ref).delete()[1].get("reference_partner.Lead", 0)

    def rectify(self, subject_ref: str, changes: Mapping[str, str]) -> int:
        if not changes:
            return self._of(subject_ref).count()
        return self._of(subject_ref).update(**{k: v[:200] for k, v in changes.items()})

    def restrict(self, subject_ref: str) -> int:
        return self._of(subject_ref).update(restricted=True)

    def object_to(self, subject_ref: str) -> int:
        return self._of(subject_ref).update(objected=True)

    def withdraw(self, subject_ref: str, purposes: frozenset[str] | None, at: str) -> int:
        # Read and written under the rows' lock: a withdrawal racing a stop of offers for the
        # same person must not write back a consent the other withdrew.
        with transaction.atomic():
            rows = list(self._of(subject_ref).select_for_update())
            for row in rows:
                consents = withdrawn(_consents(row.consents), purposes, at)
                row.consents = [c.as_dict() for c in consents]
                row.save(update_fields=["consents"])
        return len(rows)

    def add_request(self, record: RequestRecord) -> tuple[RequestRecord, bool]:
        try:
            with transaction.atomic():
                row = models.DsrRequest.objects.create(**_columns(record))
        except IntegrityError:
            return _record(models.DsrRequest.objects.get(pk=record.request_id)), False
        return _record(row), True

    def get_request(self, request_id: str) -> RequestRecord | None:
        if not request_id:
            return None
        row = models.DsrRequest.objects.filter(pk=request_id).first()
        return _record(row) if row else None

    def update_request(self, record: RequestRecord, *, was: RequestRecord) -> bool:
        columns = _columns(record)
        del columns["subject_request_id"]
        # As it was read: its status and when it last changed (rows from before changed_at
        # existed are read with their received_at).
        unchanged = Q(changed_at=was.changed_at) | Q(
            changed_at__isnull=True, received_at=was.changed_at
        )
        mine = models.DsrRequest.objects.filter(unchanged, pk=record.request_id, status=was.status)
        return mine.update(**columns) == 1

    def forget_results(self, subject_ref: str) -> None:
        models.DsrRequest.objects.filter(subject_ref=subject_ref).update(results=None, changes=None)

    def due_requests(self, received_before: datetime) -> list[RequestRecord]:
        rows = models.DsrRequest.objects.filter(
            status__in=("pending", "in_progress"), received_at__lte=received_before
        )
        return [_record(row) for row in rows]

    def message_seen(self, message_id: str) -> bool:
        return models.Message.objects.filter(message_id=message_id).exists()

    def add_message(self, message: Message, lead: StoredLead) -> bool:
        row = models.Lead.objects.filter(id=lead.partner_lead_id).first()
        try:
            with transaction.atomic():
                models.Message.objects.create(
                    message_id=message.message_id,
                    lead=row,
                    to=row.email if row else "",
                    language=(message.language or lead.lead.language)[:5],
                    title=message.title[:200],
                    text=message.text,
                    valid_until=message.valid_until[:10],
                    opt_out_url=message.opt_out_url[:500],
                )
        except IntegrityError:
            return False
        return True


def _consents(values: list[dict[str, str]]) -> tuple[Consent, ...]:
    known = Consent.__dataclass_fields__
    return tuple(Consent(**{k: str(v) for k, v in c.items() if k in known}) for c in values)


def _stored(row: models.Lead) -> StoredLead:
    consents = _consents(row.consents)
    lead = Lead(
        lead_id=str(row.lead_id),
        subject_ref=row.subject_ref,
        name=row.name,
        email=row.email,
        country=row.country,
        consents=consents,
        phone=row.phone or None,
        language=row.language,
        test=row.test,
    )
    return StoredLead(
        lead=lead,
        partner_lead_id=str(row.id),
        received_at=row.received_at,
        digest=row.body_sha256,
        consents=consents,
        restricted=row.restricted,
        objected=row.objected,
    )


def _columns(record: RequestRecord) -> dict[str, object]:
    return {
        "subject_request_id": record.request_id,
        "request_type": record.type,
        "subject_ref": record.subject_ref[:64],
        "status": record.status,
        "callback_urls": list(record.callback_urls),
        "received_at": record.received_at,
        "changed_at": record.changed_at,
        "completed_at": record.completed_at,
        "leads_affected": record.leads_affected,
        "results": list(record.results) if record.results is not None else None,
        "results_url": record.results_url[:300],
        "changes": dict(record.changes) if record.changes is not None else None,
    }


def _record(row: models.DsrRequest) -> RequestRecord:
    return replace(
        RequestRecord(str(row.subject_request_id), row.request_type, row.subject_ref),
        status=row.status,
        callback_urls=tuple(row.callback_urls),
        received_at=row.received_at,
        changed_at=row.changed_at or row.received_at,
        completed_at=row.completed_at,
        leads_affected=row.leads_affected,
        results=tuple(row.results) if row.results is not None else None,
        results_url=row.results_url,
        changes=row.changes,
    )
