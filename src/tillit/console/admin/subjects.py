"""The people in tillit's records and the consents they gave, as the console lists them:
read-only, by pseudonymous id, with no name, address or blind index shown.
"""

from __future__ import annotations

from django.contrib import admin

from tillit.consent.models import ConsentRecord
from tillit.console.admin.base import ReadOnly
from tillit.subjects.models import Subject


@admin.register(Subject)
class SubjectAdmin(ReadOnly):
    list_display = ["id", "state", "country", "partner", "created_at", "confirmed_at"]
    list_filter = ["state", "country", "partner"]
    exclude = ["email_index", "phone_index"]


@admin.register(ConsentRecord)
class ConsentRecordAdmin(ReadOnly):
    list_display = ["subject", "purpose", "action", "policy_version", "at"]
    list_filter = ["purpose", "action", "policy_version"]
