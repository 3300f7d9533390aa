"""E-mails to staff: their enrolment links and the notice that a recovery code was used.
Arguments are ids; a link's token is made here, as its e-mail is sent, and kept as a hash."""

from __future__ import annotations

from django.conf import settings
from django.tasks import task
from django.urls import reverse

from tillit.audit.models import record
from tillit.core.mail import send_templated
from tillit.vault.pii import Pii


@task()
def send_link(link_id: str) -> None:
    from tillit.console.models import Invitation, language_of

    link = Invitation.objects.select_related("user").filter(id=link_id).first()
    if link is None or not link.open or not link.user.email:
        return  # replaced, used or expired meanwhile (or nobody to send it to)
    token = link.issue_token()
    send_templated(
        f"staff-{link.kind}",
        Pii(link.user.email),
        {
            "username": link.user.username,
            "link": settings.SITE_URL + reverse("admin:enrol-start", args=[token]),
            "expires_at": link.expires_at,
            "made_by": link.made_by,
        },
        language_of(link.user),
    )
    record("staff.link_sent", actor="worker", target=f"staff:{link.user_id}", kind=link.kind)


@task()
def send_recovery_used(user_id: int) -> None:
    from django.contrib.auth import get_user_model

    from tillit.console.models import RecoveryCodes, language_of

    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None or not user.email:
        return
    device = RecoveryCodes.objects.filter(user=user).first()
    send_templated(
        "staff-recovery-used",
        Pii(user.email),
        {"username": user.username, "left": device.left() if device else 0},
        language_of(user),
    )
