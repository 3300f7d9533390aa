"""The staff console (Django admin, staff only for now): partners, deliveries, the audit log.

Nothing here can show personal data: the models it lists hold none. Records that are evidence
(consent, audit) are read-only.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from tillit.audit.models import AuditEvent
from tillit.consent.models import ConsentRecord
from tillit.partners.models import Delivery, Partner
from tillit.subjects.models import Subject


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "active",
        "dpa_signed_on",
        "compliance_attested_on",
        "weight",
        "daily_cap",
        "endpoint",
    ]
    list_filter = ["active"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Delivery)
class DeliveryAdmin(ReadOnly):
    list_display = [
        "id",
        "partner",
        "state",
        "attempts",
        "created_at",
        "delivered_at",
        "last_error",
    ]
    list_filter = ["state", "partner"]
    exclude = ["envelope", "lease_token"]


@admin.register(Subject)
class SubjectAdmin(ReadOnly):
    list_display = ["id", "state", "country", "partner", "created_at", "confirmed_at"]
    list_filter = ["state", "country", "partner"]
    exclude = ["email_index", "phone_index"]


@admin.register(ConsentRecord)
class ConsentRecordAdmin(ReadOnly):
    list_display = ["subject", "purpose", "action", "policy_version", "at"]
    list_filter = ["purpose", "action", "policy_version"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnly):
    list_display = ["seq", "at", "action", "actor", "target"]
    list_filter = ["action", "actor"]
    search_fields = ["target"]
