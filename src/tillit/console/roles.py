"""Staff roles: Django groups with the least privilege each job needs. A role sees only the
menus of its own permissions; every other console URL refuses it (403, audited).

- support answers people: the contact form's messages (the only role that can read them),
  and the rights queue (to tell a caller where their request stands).
- privacy_officer runs the privacy work: rights requests (extend, refuse), the partners' tasks,
  consent evidence, cookie consent rates, the audit log.
- administrator runs the installation: partners, staff accounts and their roles, deliveries,
  the audit log, the operator's brand and own site.

Nobody in these roles is a superuser; `ensure()` runs after every migrate and makes each
group hold exactly its permissions.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

SUPPORT = "support"
PRIVACY_OFFICER = "privacy_officer"
ADMINISTRATOR = "administrator"

ROLES: dict[str, list[str]] = {
    SUPPORT: [
        "rights.view_rightsrequest",
        "rights.view_partnertask",
        "contact.view_contactmessage",
        "contact.change_contactmessage",
        "disclosure.view_disclosurecase",
        "disclosure.add_disclosurecase",
    ],
    PRIVACY_OFFICER: [
        "rights.view_rightsrequest",
        "rights.change_rightsrequest",
        "rights.view_partnertask",
        "consent.view_consentrecord",
        "consent.view_cookieconsent",
        "subjects.view_subject",
        "partners.view_partner",
        "partners.view_delivery",
        "audit.view_auditevent",
        "audit.change_logalarm",
        "offers.view_offer",
        "offers.add_offer",
        "offers.change_offer",
        "disclosure.view_disclosurecase",
        "disclosure.add_disclosurecase",
        "disclosure.change_disclosurecase",
        "policy.view_policyversion",
        "policy.add_policyversion",
    ],
    ADMINISTRATOR: [
        "partners.view_partner",
        "partners.add_partner",
        "partners.change_partner",
        "partners.view_delivery",
        "auth.view_user",
        "auth.add_user",
        "auth.change_user",
        "auth.view_group",
        "audit.view_auditevent",
        "audit.view_witness",
        "audit.add_witness",
        "audit.change_witness",
        "audit.change_logalarm",
        "policy.view_policyversion",
        "core.view_brand",
        "core.change_brand",
    ],
}


def ensure(**kwargs: Any) -> None:
    """Create the groups and give each exactly its permissions (a post_migrate receiver)."""
    for role, names in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = Q(pk__in=[])
        for name in names:
            app_label, codename = name.split(".")
            wanted |= Q(content_type__app_label=app_label, codename=codename)
        permissions = list(Permission.objects.filter(wanted))
        if len(permissions) == len(names):  # all models migrated: set them exactly
            group.permissions.set(permissions)


def of(user: Any) -> list[str]:
    return sorted(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
