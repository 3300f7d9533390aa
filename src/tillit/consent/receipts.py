"""Consent receipts in the ISO/IEC TS 27560:2023 structure (header, processing, parties,
events), with W3C DPV terms for the consent states. Built from the ledger on demand: a receipt
holds the pseudonymous subject id, never a name or an address."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.utils.translation import override

from tillit import datamap
from tillit.audit import proofs
from tillit.consent.models import Action, ConsentRecord

SCHEMA = "ISO/IEC TS 27560:2023 (W3C DPV profile dpv-27560)"
DPV_STATE = {
    Action.GIVEN: "dpv:ConsentGiven",
    Action.REFUSED: "dpv:ConsentRefused",
    Action.WITHDRAWN: "dpv:ConsentWithdrawn",
}


class ReceiptNotFound(Exception):
    pass


def build(receipt_id: uuid.UUID) -> dict[str, Any]:
    records = list(
        ConsentRecord.objects.filter(receipt_id=receipt_id).select_related("subject__partner")
    )
    if not records:
        raise ReceiptNotFound(receipt_id)
    subject = records[0].subject
    dm = datamap.load()
    partner = subject.partner
    with override(records[0].language):
        purposes = [_purpose(dm, r, partner) for r in records if r.purpose in dm.purposes]
    controller = _controller_party(dm)
    return {
        "header": {
            "schema_version": SCHEMA,
            "receipt_id": str(receipt_id),
            "pii_principal_id": f"subject:{subject.id}",
        },
        "processing": _processing(dm, records[0], controller, purposes),
        "parties": _parties(controller, partner),
        "events": _events(records, subject),
        # Proof that these events are in the consent log as they were given (docs/log.md).
        "log": proofs.receipt_section(subject.ref),
    }


def _processing(
    dm: datamap.DataMap,
    first: ConsentRecord,
    controller: dict[str, str],
    purposes: list[dict[str, Any]],
) -> dict[str, Any]:
    """The receipt's processing section: the notice, the law, the controller, where the data
    is kept, how to withdraw, and the purposes."""
    subject, lang = first.subject, first.language
    partner = subject.partner
    return {
        "privacy_notice": {
            "url": settings.SITE_URL + dm.policy_path,
            "version": first.policy_version,
        },
        "language": lang,
        # The person's law (P33), named in the receipt's language.
        "jurisdiction": f"{dm.law(subject.country).name.get(lang, '')}; {subject.country}",
        "collection_method": first.method,
        "pii_controllers": [controller["party_id"]],
        "storage_locations": [
            "encrypted at the controller until delivered (at most 72 hours)",
            f"the processor: {partner.name}" if partner else "none",
        ],
        "withdrawal_method": {
            "email": dm.contacts["privacy"],
            "description": "Write to us, or use the privacy centre.",
        },
        "authority_party": dm.authority(subject.country).get("name", ""),
        "purposes": purposes,
    }


def _parties(controller: dict[str, str], partner: Any) -> list[dict[str, str]]:
    """The controller, and the partner (the processor) when the person has one."""
    parties = [controller]
    if partner:
        parties.append(
            {
                "party_id": f"partner:{partner.slug}",
                "name": partner.name,
                "party_type": "dpv:DataProcessor",
                "role": "processor",
                "url": partner.privacy_policy_url,
            }
        )
    return parties


def _events(records: list[ConsentRecord], subject: Any) -> list[dict[str, Any]]:
    """Each consent given, refused or withdrawn, and the confirmation of the address."""
    events = [
        {
            "event_time": r.at.isoformat(),
            "event_type": f"consent {r.action}",
            "purpose": r.purpose,
            "entity_id": f"subject:{subject.id}",
            "event_state": DPV_STATE[Action(r.action)],
            "validity_duration": "until withdrawn",
        }
        for r in records
    ]
    if subject.confirmed_at:
        events.append(
            {
                "event_time": subject.confirmed_at.isoformat(),
                "event_type": "e-mail address confirmed (double opt-in)",
                "entity_id": f"subject:{subject.id}",
                "event_state": "dpv:ConsentGiven",
            }
        )
    return events


def _purpose(dm: datamap.DataMap, record: ConsentRecord, partner: Any) -> dict[str, Any]:
    purpose = dm.purposes[record.purpose]
    categories = [str(dm.categories[c]) for c in purpose.categories if c in dm.categories]
    return {
        "purpose_id": purpose.id,
        "purpose": str(purpose.title),
        "lawful_basis": purpose.lawful_basis_label(),
        "consent_type": "dpv:ExplicitlyExpressedConsent",
        "consent_state": DPV_STATE[Action(record.action)],
        "text_shown_sha256": record.text_hash,
        "pii_information": categories,
        "retention_period": str(purpose.retention),
        "recipient_third_parties": [partner.name] if partner and purpose.id == "referral" else [],
    }


def _controller_party(dm: datamap.DataMap) -> dict[str, str]:
    op = dm.operator
    return {
        "party_id": f"controller:{op.get('org_number', op['name'])}",
        "name": op["name"],
        "address": op["address"],
        "email": dm.contacts["privacy"],
        "phone": op.get("phone", ""),
        "url": op["url"],
        "party_type": "dpv:DataController",
        "role": "controller",
    }
