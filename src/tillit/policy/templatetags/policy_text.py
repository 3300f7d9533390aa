from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import get_language

register = template.Library()


@register.filter
def here(value: Any) -> str:
    """A {"nb": ..., "en": ...} text in the page's language."""
    if not isinstance(value, dict):
        return "" if value is None else str(value)
    lang = (get_language() or "nb")[:2]
    return str(value.get(lang) or value.get("nb") or "")
