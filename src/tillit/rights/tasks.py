"""E-mail jobs of the privacy centre. Arguments are ids; addresses come from the vault."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.tasks import task
from django.utils import formats, timezone, translation

from tillit.core.mail import send_templated


@task()
def send_code(challenge_id: str) -> None:
    from tillit.rights.models import Challenge

    challenge = Challenge.objects.select_related("envelope").filter(id=challenge_id).first()
    if challenge is None or challenge.envelope is None or challenge.expires_at <= timezone.now():
        return  # Expired or used meanwhile: a code that cannot work is not sent.
    sealed = challenge.envelope.open()
    send_templated(
        "rights-code",
        sealed["email"],
        {"code": sealed["code"].reveal(), "kind": challenge.get_kind_display(), "minutes": 10},
        challenge.language,
    )


@task()
def send_received(request_id: str) -> None:
    from tillit.policy import laws
    from tillit.rights.models import RightsRequest
    from tillit.vault.models import Envelope

    request = (
        RightsRequest.objects.select_related("contact", "subject").filter(id=request_id).first()
    )
    if request is None or request.contact is None:
        return
    with translation.override(request.language):
        due = formats.date_format(timezone.localtime(request.due_at), "DATE_FORMAT")
        kind = str(request.get_kind_display())
        # The person's law, when we hold data about them (P33).
        law = laws.of_person(request.subject.country) if request.subject else None
    send_templated(
        "rights-received",
        request.contact.open()["email"],
        {"request": request, "kind": kind, "due": due, "law": law},
        request.language,
    )
    if request.outcome == "no_data":
        # Answered at once (we hold nothing about this address): this e-mail said so, and
        # no other follows it, so the address is forgotten now.
        Envelope.objects.filter(id=request.contact_id).shred()


@task()
def send_completed(request_id: str) -> None:
    """Tell the person their request is done, and which partners were told (Art. 19); then
    forget their address."""
    from tillit.rights.models import RightsRequest, TaskState
    from tillit.vault.models import Envelope

    request = RightsRequest.objects.select_related("contact").filter(id=request_id).first()
    if request is None or request.contact is None:
        return
    told = [
        t.partner.name
        for t in request.tasks.select_related("partner").filter(state=TaskState.COMPLETED)
    ]
    with translation.override(request.language):
        kind = str(request.get_kind_display())
    download = ""
    recipient = None
    if request.wants_export and request.subject_id:
        import httpx

        from tillit.partners.opendsr import PartnerError
        from tillit.partners.signing import SignatureError
        from tillit.rights import export

        try:
            with httpx.Client() as client:
                download = settings.SITE_URL + export.seal(request, client)
            recipient = export.recipient(request)
        except (httpx.HTTPError, PartnerError, SignatureError, ValueError):
            # A partner's results could not be fetched just now: try again in five minutes
            # (the overdue alarm watches the deadline meanwhile).
            later = send_completed.using(run_after=timezone.now() + timedelta(minutes=5))
            later.enqueue(request_id)
            return
    send_templated(
        "rights-completed",
        request.contact.open()["email"],
        {
            "request": request,
            "kind": kind,
            "told": told,
            "download": download,
            "days": 7,
            "recipient": recipient,
        },
        request.language,
    )
    if recipient:
        send_transfer.enqueue(request_id)
    Envelope.objects.filter(id=request.contact_id).shred()


@task()
def send_transfer(request_id: str) -> None:
    """Portability to another company (Art. 20(2)): the recipient the person named gets its
    own one-time link to the same export; then the recipient's address is forgotten."""
    from tillit.rights import export
    from tillit.rights.models import RightsRequest
    from tillit.vault.models import Envelope
    from tillit.vault.pii import Pii

    request = RightsRequest.objects.select_related("details").filter(id=request_id).first()
    if request is None or request.transfer_id is None:
        return
    recipient = export.recipient(request)
    if recipient is None:
        return
    send_templated(
        "rights-transfer",
        Pii(recipient["recipient_email"]),
        {
            "request": request,
            "recipient": recipient,
            "download": settings.SITE_URL + export.download_path(request, "recipient"),
            "days": 7,
        },
        request.language,
    )
    Envelope.objects.filter(id=request.details_id).shred()


@task()
def send_extended(request_id: str) -> None:
    from tillit.rights.models import RightsRequest

    request = RightsRequest.objects.select_related("contact").filter(id=request_id).first()
    if request is None or request.contact is None or request.extended_until is None:
        return
    with translation.override(request.language):
        until = formats.date_format(timezone.localtime(request.extended_until), "DATE_FORMAT")
    send_templated(
        "rights-extended",
        request.contact.open()["email"],
        {"request": request, "until": until, "reason": request.extension_reason},
        request.language,
    )


@task()
def send_refused(request_id: str) -> None:
    """Art. 12(4): the reason, and how to complain; then the address is forgotten."""
    from tillit import datamap
    from tillit.rights.models import RightsRequest
    from tillit.vault.models import Envelope

    request = RightsRequest.objects.select_related("contact", "subject").filter(id=request_id)
    found = request.first()
    if found is None or found.contact is None:
        return
    dm = datamap.load()
    country = found.subject.country if found.subject else dm.operator["country"]
    with translation.override(found.language):
        kind = str(found.get_kind_display())
    send_templated(
        "rights-refused",
        found.contact.open()["email"],
        {
            "request": found,
            "kind": kind,
            "reason": found.refusal_reason,
            "authority": dm.authority(country),
            "privacy_contact": dm.contacts["privacy"],
        },
        found.language,
    )
    Envelope.objects.filter(id=found.contact_id).shred()


@task()
def send_partner_request(task_id: str, reminder: bool = False) -> None:
    """To a partner without a rights API: the request, and a one-time link to answer it. No
    personal data in the e-mail: the page behind the link shows who the person is."""
    from tillit.rights import answers
    from tillit.rights.models import PartnerTask, TaskState
    from tillit.vault.pii import Pii

    found = PartnerTask.objects.select_related("partner", "request").filter(id=task_id).first()
    if found is None or found.state == TaskState.COMPLETED or not found.partner.privacy_email:
        return
    with translation.override(found.partner.language):
        kind = str(found.request.get_kind_display())
        due = formats.date_format(timezone.localtime(found.request.deadline), "DATE_FORMAT")
    send_templated(
        "rights-partner",
        Pii(found.partner.privacy_email),
        {
            "partner": found.partner,
            "kind": kind,
            "due": due,
            "link": settings.SITE_URL + answers.link(found),
            "reminder": reminder,
            "reminders": found.reminders,
        },
        found.partner.language,
    )


@task()
def send_overdue_alarm(request_id: str) -> None:
    """To the privacy officer (the data map's privacy contact), when a request is overdue or a
    partner could not be reached for 14 days: no personal data in it."""
    from tillit import datamap
    from tillit.rights.models import RightsRequest
    from tillit.vault.pii import Pii

    request = RightsRequest.objects.filter(id=request_id).first()
    if request is None or request.completed_at:
        return
    failed = [
        t.partner.name for t in request.tasks.select_related("partner") if t.state == "failed"
    ]
    address = datamap.load().contacts["privacy"]
    send_templated(
        "rights-overdue",
        Pii(address),
        {
            "request": request,
            "failed": failed,
            "console_url": settings.SITE_URL + "/console/rights/rightsrequest/",
        },
        staff_language(address),
    )


def staff_language(address: str) -> str:
    """The language the staff member with this address reads the console and its e-mails in
    (their own choice, kept by the console), else TILLIT_CONSOLE_LANGUAGE: the privacy
    contact's address need not be anyone's account."""
    chosen = (
        get_user_model()
        .objects.filter(email__iexact=address, is_staff=True, is_active=True)
        .exclude(staff_profile=None)
        .values_list("staff_profile__language", flat=True)
        .first()
    )
    return chosen or settings.CONSOLE_LANGUAGE
