"""The privacy policy as published: the version in force, every older version at its own
address, what changed between any two, and the same as JSON."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import get_language

from tillit import datamap
from tillit.audit.models import LogKey
from tillit.datamap import Kind
from tillit.policy import laws, versions
from tillit.policy.models import PolicyVersion


def _lang() -> str:
    return (get_language() or "nb")[:2]


def _context(version: PolicyVersion | None) -> dict[str, Any]:
    content = version.content if version else versions.snapshot()
    dm = datamap.load()
    authority = content["authorities"].get(dm.operator["country"]) or content["authorities"].get(
        "default", {}
    )
    # The laws of the countries served (P33); a version made before they were data has none.
    first = content["authorities"].get(dm.operator["country"])
    shown = [
        laws.from_entry(e, first if i == 0 else None) for i, e in enumerate(content.get("laws", []))
    ]
    return {
        "laws": shown,
        "version": version,
        "latest": versions.current(),
        "label": version.label if version else dm.policy_version,
        "p": content,
        "authority": authority,
        "history": PolicyVersion.objects.only("number", "published_at", "material"),
        "rights": Kind.choices,
        "log_key": LogKey.objects.filter(retired_at__isnull=True).order_by("-made_at").first(),
    }


def current(request: HttpRequest) -> HttpResponse:
    return render(request, "policy/policy.html", _context(versions.current()))


def numbered(request: HttpRequest, number: int) -> HttpResponse:
    version = PolicyVersion.objects.filter(number=number).first()
    if version is None:
        return render(request, "site/not_found.html", status=404)
    return render(request, "policy/policy.html", _context(version))


def as_json(request: HttpRequest, number: int | None = None) -> HttpResponse:
    version = PolicyVersion.objects.filter(number=number).first() if number else versions.current()
    if number and version is None:
        return JsonResponse({"error": "no such version"}, status=404)
    content = version.content if version else versions.snapshot()
    body = {
        "version": version.number if version else None,
        "published_at": version.published_at.isoformat() if version else None,
        "text_hash": version.text_hash if version else versions.digest(content),
        "summary": {"nb": version.summary_nb, "en": version.summary_en} if version else None,
        "html": request.build_absolute_uri(
            reverse("site:policy-version", args=[version.number]) if version else
            reverse("site:policy")
        ),
        "policy": content,
    }  # fmt: skip
    return JsonResponse(body, json_dumps_params={"ensure_ascii": False, "indent": 2})


def changed(request: HttpRequest) -> HttpResponse:
    """What changed between two versions (?from=&to=; by default the latest two)."""
    numbers = list(PolicyVersion.objects.values_list("number", flat=True))
    if not numbers:
        return render(request, "policy/changes.html", {"pairs": None, "numbers": numbers})
    try:
        to = int(request.GET.get("to", numbers[0]))
        since = int(request.GET.get("from", to - 1 if to > 1 else to))
    except ValueError:
        return render(request, "site/bad_request.html", status=400)
    old = PolicyVersion.objects.filter(number=since).first()
    new = PolicyVersion.objects.filter(number=to).first()
    if old is None or new is None:
        return render(request, "site/not_found.html", status=404)
    return render(
        request,
        "policy/changes.html",
        {
            "old": old,
            "new": new,
            "found": versions.changes(old.content, new.content, _lang()),
            "numbers": numbers,
        },
    )
