"""The answer to an access or portability request: one ZIP with the person's data as JSON
(machine-readable), as CSV (safe to open in a spreadsheet) and as a readable HTML page that
also gives the facts of Art. 15 and tillit's own records about the person. It is sealed in the
vault and offered once, through a link that expires after 7 days."""

from __future__ import annotations

import base64
import csv
import io
import json
import zipfile
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from tillit import datamap
from tillit.consent.models import ConsentRecord
from tillit.datamap import Kind
from tillit.partners import opendsr
from tillit.partners.models import Delivery
from tillit.policy import laws
from tillit.rights import answers
from tillit.rights.models import PartnerTask, RightsRequest, TaskState
from tillit.vault.models import Envelope, Purpose

if TYPE_CHECKING:
    import httpx

SALT = "tillit.rights.export"
LIFETIME = timedelta(days=7)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def partner_records(
    client: httpx.Client, request: RightsRequest
) -> tuple[list[dict[str, Any]], list[tuple[str, bytes]]]:
    """What the partners hold: records fetched from each rights API's results, and the files
    that partners without one uploaded through their answer link."""
    found: list[dict[str, Any]] = []
    files: list[tuple[str, bytes]] = []
    tasks = request.tasks.select_related("partner", "answer_file").filter(state=TaskState.COMPLETED)
    for task in tasks:
        if task.answer_file is not None:
            sealed = task.answer_file.open()
            name = f"from-partners/{task.partner.slug}-{sealed['name'].reveal()}"
            files.append((name, base64.b64decode(sealed["data"].reveal())))
            found.append({"holder": task.partner.name, "file": name})
            continue
        if not task.results_url.startswith(task.partner.endpoint + "/"):
            continue  # results come only from the partner's own address
        path = task.results_url.removeprefix(task.partner.endpoint)
        response = client.get(
            task.results_url,
            headers=opendsr.headers(task.partner, f"GET {path}".encode()),
            timeout=settings.DELIVERY_TIMEOUT_SECONDS,
        )
        if response.status_code == 404 and _erased_since(request, task):
            continue  # the person's erasure, asked for since, took these results with it
        if response.status_code != 200:
            raise opendsr.PartnerError(f"results answered {response.status_code}")
        data = opendsr.checked(task.partner, response, "dsr-response")
        for item in data.get("records", []):
            found.append({"holder": task.partner.name, **item})
    return found, files


def own_records(request: RightsRequest) -> dict[str, Any]:
    return subject_records(request.subject) if request.subject else {}


def subject_records(subject: Any) -> dict[str, Any]:
    """What tillit itself keeps about a person: pseudonymous, with no name or address."""
    return {
        "account": {
            "pseudonymous_id": str(subject.id),
            "state": subject.state,
            "country": subject.country,
            "language": subject.language,
            "signed_up_at": subject.created_at.isoformat(),
            "confirmed_at": subject.confirmed_at.isoformat() if subject.confirmed_at else None,
            "policy_version": subject.policy_version,
        },
        "consents": [
            {
                "purpose": c.purpose,
                "action": c.action,
                "lawful_basis": c.lawful_basis,
                "policy_version": c.policy_version,
                "method": c.method,
                "at": c.at.isoformat(),
                "receipt_id": str(c.receipt_id),
            }
            for c in ConsentRecord.objects.filter(subject=subject)
        ],
        "referrals": [
            {
                "partner": d.partner.name,
                "state": d.state,
                "created_at": d.created_at.isoformat(),
                "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None,
            }
            for d in Delivery.objects.select_related("partner").filter(subject=subject)
        ],
        "requests": [
            {
                "reference": r.reference,
                "kind": r.kind,
                "state": r.state,
                "received_at": r.received_at.isoformat(),
                "due_at": r.due_at.isoformat(),
            }
            for r in subject.rights_requests.all()
        ],
    }


def facts(request: RightsRequest) -> dict[str, Any]:
    """Art. 15(1)(a)–(h), from the data map and the records."""
    dm = datamap.load()
    country = request.subject.country if request.subject else dm.operator["country"]
    recipients = (
        sorted(
            {
                d.partner.name
                for d in Delivery.objects.select_related("partner").filter(subject=request.subject)
            }
        )
        if request.subject
        else []
    )
    return {
        "controller": dm.operator,
        "purposes": [
            {
                "title": str(p.title),
                "lawful_basis": p.lawful_basis_label(),
                "retention": str(p.retention),
            }
            for p in dm.purposes.values()
        ],
        "categories": [str(t) for t in dm.categories.values()],
        "recipients": recipients,
        "source": "you",
        "automated_decisions": None,
        "authority": dm.authority(country),
        "privacy_contact": dm.contacts["privacy"],
        "law": _law(request, country),
    }


def _law(request: RightsRequest, country: str) -> dict[str, Any]:
    """The person's law, its rights and deadline, in their language (P33)."""
    with translation.override(request.language):
        return laws.as_dict(laws.of_person(country))


def _erased_since(request: RightsRequest, task: PartnerTask) -> bool:
    """Whether the person has since asked this partner to erase their data (which erases the
    results it kept for their earlier requests too)."""
    return PartnerTask.objects.filter(
        partner_id=task.partner_id,
        request__subject_id=request.subject_id,
        request__kind=Kind.ERASURE,
        request__received_at__gte=request.received_at,
    ).exists()


def build_zip(
    request: RightsRequest,
    partners: list[dict[str, Any]],
    files: list[tuple[str, bytes]] = (),  # type: ignore[assignment]
) -> bytes:
    data = {
        "reference": request.reference,
        "made_at": timezone.now().isoformat(),
        "held_by_partners": partners,
        "held_by_us": own_records(request),
    }
    about = facts(request)
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(["holder", "field", "value"])
    for record in partners:
        for key, value in record.items():
            if key != "holder" and not isinstance(value, (list, dict)):
                writer.writerow([safe_cell(record["holder"]), safe_cell(key), safe_cell(value)])
    with translation.override(request.language):
        page = render_to_string("rights/export.html", {"data": data, "facts": about, "rr": request})
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "data.json", json.dumps({**data, "facts": about}, indent=2, ensure_ascii=False)
        )
        archive.writestr("data.csv", rows.getvalue())
        archive.writestr("index.html", page)
        for name, content in files:
            archive.writestr(name, content)
    return out.getvalue()


def seal(request: RightsRequest, client: httpx.Client) -> str:
    """Assemble, seal and attach the export (once: a retried e-mail reuses it), with a copy
    for the recipient the person named for portability; return the person's one-time
    download path. The partners' uploads are shredded once they are inside."""
    if request.export_id is None:
        partners, files = partner_records(client, request)
        archive = {"zip": base64.b64encode(build_zip(request, partners, files)).decode()}
        with transaction.atomic():
            export = Envelope.objects.seal(archive, Purpose.EXPORT)
            transfer = (
                Envelope.objects.seal(archive, Purpose.EXPORT) if recipient(request) else None
            )
            RightsRequest.objects.filter(id=request.id).update(
                export=export, transfer=transfer or None
            )
            uploads = request.tasks.filter(answer_file__isnull=False).values("answer_file_id")
            Envelope.objects.filter(id__in=uploads).shred()
        request.export, request.transfer = export, transfer or None
    return download_path(request, "person")


def recipient(request: RightsRequest) -> dict[str, str] | None:
    """Portability to another company: the recipient the person named and confirmed."""
    if request.kind != Kind.PORTABILITY or request.details is None:
        return None
    named = request.details.open()
    if "recipient_email" not in named:
        return None
    return {k: v.reveal() for k, v in named.items()}


def download_path(request: RightsRequest, holder: str) -> str:
    token = signing.dumps({"r": str(request.id), "for": holder}, salt=SALT, compress=True)
    with translation.override(request.language):
        return reverse("rights:download", args=[token])


def open_once(token: str) -> tuple[RightsRequest, bytes] | None:
    """The export for a valid, unexpired link, shredded as it is handed out (one download per
    holder: the person, and the recipient they named)."""
    try:
        claim = signing.loads(token, salt=SALT, max_age=LIFETIME)
        request_id, holder = claim["r"], claim["for"]
    except (signing.BadSignature, TypeError, KeyError):
        return None
    request = RightsRequest.objects.filter(id=request_id).first()
    envelope_id = getattr(request, "transfer_id" if holder == "recipient" else "export_id", None)
    envelope = Envelope.objects.filter(id=envelope_id).first() if envelope_id else None
    if request is None or envelope is None:
        return None
    archive = base64.b64decode(envelope.open()["zip"].reveal())
    if not Envelope.objects.filter(id=envelope.id).shred():
        return None  # someone else took it a moment ago
    return request, archive


def forget_stale_exports(now: Any) -> int:
    """Exports not downloaded within 7 days; partners' uploads never put in an export (their
    request went unanswered by the others for longer than any deadline)."""
    stale = Q(purpose=Purpose.EXPORT, created_at__lt=now - LIFETIME) | Q(
        purpose=Purpose.PARTNER_ANSWER, created_at__lt=now - answers.LIFETIME
    )
    return Envelope.objects.filter(stale).shred()
