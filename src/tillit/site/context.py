from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import translate_url
from django.utils.translation import get_language

from tillit import datamap
from tillit.core import brand
from tillit.policy import versions


def operator(request: HttpRequest) -> dict[str, Any]:
    dm = datamap.load()
    lang = (get_language() or "nb")[:2]
    other = "en" if lang == "nb" else "nb"
    shown = brand.current()
    return {
        "operator": shown.operator,
        "brand": shown,
        "contacts": dm.contacts,
        "policy_version": versions.current_label,  # called only where a page shows it
        "lang": lang,
        "other_lang": other,
        "other_lang_name": "English" if other == "en" else "Norsk",
        "other_lang_url": translate_url(request.path, other),
    }
