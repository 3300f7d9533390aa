"""The privacy centre: choose a right, prove the address, get a reference and a due date."""

from __future__ import annotations

import json
import uuid

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from tillit.audit.models import record
from tillit.core.ratelimit import hit, hit_key
from tillit.datamap import Kind
from tillit.partners import opendsr, signing
from tillit.partners.models import Delivery, Partner
from tillit.policy import laws
from tillit.rights import actions, answers, export, fanout, verification
from tillit.rights.forms import CodeForm, PortabilityForm, RectifyForm, StartForm
from tillit.rights.models import PartnerTask, RightsRequest, TaskState


def _lang() -> str:
    return (get_language() or "nb")[:2]


def _posted(request: HttpRequest) -> object:
    """The form data of a POST (even an empty one, which must be judged, not ignored)."""
    return request.POST if request.method == "POST" else None


def _authorities(served: list[laws.Shown]) -> list[dict[str, str]]:
    """Every authority a served person may complain to: the operator's country's first."""
    found: list[dict[str, str]] = []
    for law in served:
        found += [a for a in (law.authority, *law.local_authorities) if a not in found]
    return found


@never_cache
@require_http_methods(["GET", "POST"])
def centre(request: HttpRequest) -> HttpResponse:
    form = StartForm(_posted(request), initial={"kind": request.GET.get("kind")})
    served = laws.served()
    context = {"form": form, "laws": served, "authorities": _authorities(served), "kinds": Kind}
    if request.method == "GET":
        return render(request, "rights/centre.html", context)
    if not hit(request, "rights-start", settings.RIGHTS_CODES_PER_IP_PER_HOUR):
        return render(request, "rights/centre.html", {**context, "limited": True}, status=429)
    if not form.is_valid():
        return render(request, "rights/centre.html", context, status=400)
    address = form.cleaned_data["email"]
    # Per address too (keyed, like the IP): nobody floods an inbox with codes.
    if not hit_key("rights-address", address.lower(), settings.RIGHTS_CODES_PER_ADDRESS_PER_HOUR):
        return render(request, "rights/centre.html", {**context, "limited": True}, status=429)
    challenge = verification.start(address, form.cleaned_data["kind"], _lang())
    return redirect("rights:verify", challenge.id)


@never_cache
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest, challenge_id: uuid.UUID) -> HttpResponse:
    form = CodeForm(_posted(request))
    context: dict[str, object] = {"form": form, "minutes": 10}
    if request.method == "GET":
        return render(request, "rights/verify.html", context)
    # Per IP across every challenge: guessing spread over many requests is slowed down too.
    if not hit(request, "rights-check", settings.RIGHTS_CHECKS_PER_IP_PER_HOUR):
        return render(request, "rights/verify.html", {**context, "limited": True}, status=429)
    if not form.is_valid():
        return render(request, "rights/verify.html", context, status=400)
    try:
        verification.check(challenge_id, form.cleaned_data["code"])
    except verification.CodeRefused as refusal:
        return render(
            request,
            "rights/verify.html",
            {**context, "refusal": refusal.reason, "tries_left": refusal.tries_left},
            status=400,
        )
    return redirect("rights:confirm", challenge_id)


@never_cache
@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, challenge_id: uuid.UUID) -> HttpResponse:
    challenge = verification.verified(challenge_id)
    if challenge is None:
        return render(request, "rights/verify_expired.html", status=400)
    kind = Kind(challenge.kind)
    form_class = {Kind.RECTIFICATION: RectifyForm, Kind.PORTABILITY: PortabilityForm}.get(kind)
    form = form_class(_posted(request)) if form_class else None
    if request.method == "GET":
        return render(request, "rights/confirm.html", {"kind": kind, "form": form})
    if form is not None and not form.is_valid():
        return render(request, "rights/confirm.html", {"kind": kind, "form": form}, status=400)
    changes = (form.changes() or None) if form is not None else None
    rights_request = actions.open_request(challenge, kind, changes)
    return redirect("rights:done", rights_request.id)


@never_cache
def done(request: HttpRequest, request_id: uuid.UUID) -> HttpResponse:
    rights_request = RightsRequest.objects.select_related("subject").filter(id=request_id).first()
    if rights_request is None:
        return render(request, "site/not_found.html", status=404)
    # The person's own law, when we hold data about them (P33).
    subject = rights_request.subject
    law = laws.of_person(subject.country) if subject else None
    return render(request, "rights/done.html", {"rr": rights_request, "law": law})


@csrf_exempt  # signed by the partner instead; nothing here rides on a browser's cookies
@require_POST
def partner_callback(request: HttpRequest, slug: str) -> HttpResponse:
    """An OpenDSR status callback from a partner: verified over the raw body first."""
    partner = Partner.objects.filter(slug=slug).first()
    if partner is None:
        return JsonResponse({"error": "unknown partner"}, status=401)
    try:
        signing.verify(
            partner.secrets(),
            request.body,
            request.headers.get(signing.HEADER),
            purpose="dsr-callback",
        )
        status = json.loads(request.body)
        task = PartnerTask.objects.select_related("partner", "request").get(
            id=uuid.UUID(str(status["subject_request_id"])), partner=partner
        )
    except signing.SignatureError as error:
        return JsonResponse({"error": str(error)}, status=401)
    except (ValueError, KeyError, TypeError, PartnerTask.DoesNotExist):
        return JsonResponse({"error": "not a status of a request we sent you"}, status=400)
    expected = settings.SITE_URL + request.path
    if status.get("status_callback_url") not in (None, expected):
        return JsonResponse({"error": "status_callback_url is not this endpoint"}, status=400)
    fanout.update(task, status)
    return JsonResponse({"accepted": True}, status=202)


@never_cache
@require_http_methods(["GET", "POST"])
def download(request: HttpRequest, token: str) -> HttpResponse:
    """The export, once. The link shows a button: mail scanners fetch links, and a fetch must
    not use up the download."""
    if request.method == "GET":
        return render(request, "rights/download.html", {"days": 7})
    opened = export.open_once(token)
    if opened is None:
        return render(request, "rights/download_gone.html", status=410)
    rights_request, archive = opened
    response = HttpResponse(archive, content_type="application/zip")
    response["Content-Disposition"] = (
        f'attachment; filename="my-data-{rights_request.reference}.zip"'
    )
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def partner_answer(request: HttpRequest, token: str) -> HttpResponse:
    """A partner without a rights API answers here, through the link e-mailed to its privacy
    contact. Usable until answered; nothing happens on GET (mail scanners fetch links)."""
    task = answers.task_for(token)
    if task is None:
        return render(request, "rights/partner_answer_gone.html", status=410)
    if task.state == TaskState.CANCELLED:
        return render(request, "rights/partner_answer_gone.html", {"cancelled": True}, status=410)
    if task.state == TaskState.COMPLETED:
        return render(request, "rights/partner_answer_gone.html", {"answered": True}, status=410)
    wants_file = task.request.wants_export
    length = request.META.get("CONTENT_LENGTH") or "0"
    if request.method == "POST" and (
        not length.isdigit() or int(length) > answers.MAX_UPLOAD + 65_536
    ):
        return render(request, "rights/partner_answer_gone.html", {"too_large": True}, status=413)
    form = answers.AnswerForm(_posted(request), request.FILES, wants_file=wants_file)
    rr = task.request
    context = {
        "task": task,
        "rr": rr,
        "form": form,
        "wants_file": wants_file,
        "changes": rr.details.open() if rr.kind == Kind.RECTIFICATION and rr.details else {},
        "their_reference": Delivery.objects.filter(subject_id=rr.subject_id, partner=task.partner)
        .exclude(partner_reference="")
        .values_list("partner_reference", flat=True)
        .first(),
    }
    if request.method == "GET":
        record(
            "rights.partner_opened", actor=f"partner:{task.partner.slug}", target=f"request:{rr.id}"
        )
        return render(request, "rights/partner_answer.html", context)
    if not form.is_valid():
        return render(request, "rights/partner_answer.html", context, status=400)
    try:
        fanout.answered(task, form.cleaned_data["answer"], form.sealed_file())
    except opendsr.PartnerError:
        return render(request, "rights/partner_answer_gone.html", {"answered": True}, status=410)
    return render(request, "rights/partner_answered.html", {"task": task, "rr": rr})
