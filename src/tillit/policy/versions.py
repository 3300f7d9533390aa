"""Publishing the policy, reading the version in force, and what changed between two."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from tillit import datamap
from tillit.audit.models import record
from tillit.policy.models import PolicyVersion


class NothingChanged(Exception):
    pass


def _both(text: Any) -> dict[str, str]:
    if text is None:
        return {}
    return {lang: str(text.get(lang, "")) for lang in datamap.LANGS}


def snapshot() -> dict[str, Any]:
    """Everything the policy says, in both languages, from the data map and the live
    configuration (the partners that receive data now)."""
    from tillit.partners.models import Partner
    from tillit.policy import laws

    dm = datamap.load()
    return {
        "operator": dict(dm.operator),
        "contacts": dict(dm.contacts),
        "purposes": [
            {
                "id": p.id,
                "title": _both(p.title),
                "lawful_basis": p.lawful_basis,
                "lawful_basis_label": dict(
                    zip(datamap.LANGS, datamap.LAWFUL_BASES[p.lawful_basis], strict=True)
                ),
                "balancing": _both(p.balancing),
                "categories": [_both(dm.categories[c]) for c in p.categories],
                "retention": _both(p.retention),
            }
            for p in dm.purposes.values()
        ],  # fmt: skip
        "recipients": [
            {"name": p.name, "countries": list(p.countries), "privacy_policy": p.privacy_policy_url}
            for p in Partner.objects.compliant().order_by("name")
        ],
        "cookies": [
            {
                "name": c["name"],
                "provider": c.get("provider", ""),
                "category": _both(dm.cookie_categories[c["category"]].title),
                "purpose": _both(c.get("purpose")),
                "lifetime": _both(c.get("lifetime")),
            }
            for c in dm.cookies
        ],
        "authorities": {code: dict(a) for code, a in sorted(dm.authorities.items())},
        # The laws of the countries served, each with its rights, deadline and authority (P33).
        "laws": laws.entries(dm),
    }


def digest(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def current() -> PolicyVersion | None:
    return PolicyVersion.objects.order_by("-number").first()


_memo: dict[str, Any] = {"until": 0.0, "label": "", "material": None}
MEMO_SECONDS = 2.0


def _read() -> dict[str, Any]:
    """The latest version's label and the latest material version's number, read at most every
    2 seconds per process: a version published elsewhere is in force everywhere within 2 s."""
    if time.monotonic() >= _memo["until"]:
        latest = PolicyVersion.objects.order_by("-number").values_list("number", flat=True)
        number = latest.first()
        _memo["label"] = str(number) if number is not None else datamap.load().policy_version
        _memo["material"] = latest.filter(material=True).first()
        _memo["until"] = time.monotonic() + MEMO_SECONDS
    return _memo


def current_label() -> str:
    """The version consent is given under now: the latest published one (the data map's own
    label only before anything has been published)."""
    return str(_read()["label"])


def latest_material() -> int | None:
    """The number of the latest version returning visitors must be told of."""
    found = _read()["material"]
    return int(found) if found is not None else None


def forget_label() -> None:
    _memo["until"] = 0.0


def publish(summary_nb: str, summary_en: str, actor: str, material: bool = True) -> PolicyVersion:
    """A new immutable version from the data map and partners as they are now. In force at
    once. Refused when nothing the policy says has changed."""
    if not summary_nb.strip() or not summary_en.strip():
        raise NothingChanged(_("say what changed, in bokmål and in English"))
    content = snapshot()
    text_hash = digest(content)
    latest = current()
    if latest is not None and latest.text_hash == text_hash:
        raise NothingChanged(
            _("nothing in the policy has changed since version %(number)s")
            % {"number": latest.number}
        )
    try:
        with transaction.atomic():
            version = PolicyVersion.objects.create(
                number=(latest.number + 1) if latest else 1,
                published_by=actor,
                summary_nb=summary_nb.strip(),
                summary_en=summary_en.strip(),
                material=material,
                content=content,
                text_hash=text_hash,
            )
            record("policy.published", actor=actor, target=f"policy:{version.number}",
                   text_hash=text_hash)  # fmt: skip
    except IntegrityError:
        raise NothingChanged(_("someone else published a version just now; look again")) from None
    forget_label()  # in force at once here; other processes read it within 2 seconds
    return version


def _keyed(items: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {str(item[key]): item for item in items}


def _name(item: dict[str, Any], lang: str) -> str:
    title = item.get("title") or item.get("name")
    return str(title.get(lang, "")) if isinstance(title, dict) else str(title)


def changes(old: dict[str, Any], new: dict[str, Any], lang: str) -> list[dict[str, str]]:
    """What differs between two versions' content, item by item, in one language."""
    found: list[dict[str, str]] = []
    keyed = (("purposes", "id"), ("recipients", "name"), ("cookies", "name"), ("laws", "id"))
    for section, key in keyed:
        before, after = _keyed(old.get(section, []), key), _keyed(new.get(section, []), key)
        for k in sorted(after.keys() - before.keys()):
            found.append({"section": section, "item": _name(after[k], lang), "change": "added"})
        for k in sorted(before.keys() - after.keys()):
            found.append({"section": section, "item": _name(before[k], lang), "change": "removed"})
        for k in sorted(before.keys() & after.keys()):
            for field in sorted(set(before[k]) | set(after[k])):
                a, b = before[k].get(field), after[k].get(field)
                if a != b:
                    found.append({
                        "section": section, "item": _name(after[k], lang), "change": "changed",
                        "field": field, "from": _text(a, lang), "to": _text(b, lang),
                    })  # fmt: skip
    for section in ("operator", "contacts", "authorities"):
        if old.get(section) != new.get(section):
            found.append({"section": section, "item": section, "change": "changed"})
    return found


def _text(value: Any, lang: str) -> str:
    if isinstance(value, dict) and set(value) <= set(datamap.LANGS):
        return str(value.get(lang, ""))
    if isinstance(value, list):
        return ", ".join(_text(v, lang) for v in value)
    if isinstance(value, dict) and ("label" in value or "name" in value):
        return _text(value.get("label") or value.get("name"), lang)  # a law's right or authority
    if isinstance(value, dict):
        return ", ".join(f"{k} {_text(v, lang)}" for k, v in value.items())
    return "" if value is None else str(value)
