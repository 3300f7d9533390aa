"""The data map (operator.toml): policy as code.

`load()` gives the validated map for the file named by TILLIT_OPERATOR_FILE; `problems()` lists
what is wrong with it, each with the line it is on, for the system check tillit.E010.

The privacy law a person lives under is data too (`[laws.NAME]`, P33): the rights it gives, the
deadline of an answer and the extension allowed, the authority to complain to, and defaults
such as whether Global Privacy Control opts out of sale or sharing. Each law names the
countries (or states, as ISO 3166-2 codes like "US-CA") it applies to, so code asks
`law(country)` and never branches on a country.

This package is below the domain: it imports nothing of tillit's. `model.py` holds the values
(texts, purposes, fields, laws, the rights' names), `validation.py` finds the mistakes with the
help of `laws.py` and `brand.py` (colours by `contrast.py`), and `countries.py` names the
countries a form offers. The names here are the package's interface.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from django.conf import settings

from tillit.datamap.laws import build_laws, resolved_laws
from tillit.datamap.model import (
    CONSENT_COOKIE,
    COOKIE_CATEGORIES,
    COUNTRY_CODE,
    EMBED_ORIGIN,
    LANGS,
    LAWFUL_BASES,
    REGULATIONS,
    SIGNUP_FIELDS,
    CookieCategory,
    DataMap,
    DataMapError,
    Field,
    Kind,
    Law,
    Period,
    Purpose,
    Text,
    add_months,
    iso_country,
    text_or_none,
)
from tillit.datamap.validation import problems_in

__all__ = [
    "COOKIE_CATEGORIES", "CONSENT_COOKIE", "COUNTRY_CODE", "EMBED_ORIGIN", "LANGS",
    "LAWFUL_BASES", "REGULATIONS", "SIGNUP_FIELDS", "CookieCategory", "DataMap", "DataMapError",
    "Field", "Kind", "Law", "Period", "Purpose", "Text", "add_months", "iso_country", "load",
    "problems", "problems_in", "resolved_laws",
]  # fmt: skip


_cache: dict[tuple[str, int], DataMap] = {}


def load(path: Path | None = None) -> DataMap:
    # Read again whenever the file changes: a stat per call (several a request), kept cheap.
    name = os.fspath(path or settings.OPERATOR_FILE)
    key = (name, os.stat(name).st_mtime_ns)
    if key not in _cache:
        path = Path(name)
        text = path.read_text(encoding="utf-8")
        found = problems_in(text)
        if found:
            raise DataMapError(found)
        _cache.clear()
        _cache[key] = _build(tomllib.loads(text))
    return _cache[key]


def problems(path: Path | None = None) -> list[tuple[int, str]]:
    path = Path(path or settings.OPERATOR_FILE)
    try:
        return problems_in(path.read_text(encoding="utf-8"))
    except OSError as error:
        return [(0, f"cannot read {path}: {error.strerror}")]


def _lifetime(cookie: dict[str, Any]) -> Text:
    """As declared; for tillit's own consent cookie, as configured (so the two cannot differ)."""
    if cookie.get("name") == CONSENT_COOKIE:
        months = settings.COOKIE_CONSENT_MONTHS
        return Text(
            nb=f"{months} måned" if months == 1 else f"{months} måneder",
            en=f"{months} month" if months == 1 else f"{months} months",
        )
    return Text(cookie["lifetime"])


def _build(raw: dict[str, Any]) -> DataMap:
    purposes = {
        p["id"]: Purpose(
            id=p["id"],
            lawful_basis=p["lawful_basis"],
            required=bool(p.get("required")),
            categories=list(p.get("categories", [])),
            title=Text(p["title"]),
            retention=Text(p["retention"]),
            consent_text=text_or_none(p.get("consent_text")),
            balancing=text_or_none(p.get("balancing")),
            field=p.get("field", ""),
            cookie_category=p.get("cookie_category", ""),
            sale_or_sharing=bool(p.get("sale_or_sharing")),
        )
        for p in raw["purposes"]
    }
    fields = {
        f["name"]: Field(
            name=f["name"],
            category=f["category"],
            purposes=list(f["purposes"]),
            required=bool(f.get("required")),
            label=Text(f["label"]),
        )
        for f in raw["fields"]
    }
    return DataMap(
        operator=raw["operator"],
        contacts=raw["contacts"],
        policy_version=str(raw["policy"]["version"]),
        policy_path=raw["policy"].get("path", "/personvern/"),
        countries=list(raw.get("signup", {}).get("countries", ["NO"])),
        categories={k: Text(v) for k, v in raw["categories"].items()},
        purposes=purposes,
        fields=fields,
        cookies=[
            {**c, "purpose": Text(c["purpose"]), "lifetime": _lifetime(c)}
            for c in raw.get("cookies", [])
        ],
        authorities=raw["authorities"],
        banner={k: Text(v) for k, v in raw["banner"].items()},
        cookie_categories={
            cat: CookieCategory(
                id=cat,
                title=Text(raw["cookie_categories"][cat]["title"]),
                description=Text(raw["cookie_categories"][cat]["description"]),
            )
            for cat in COOKIE_CATEGORIES
        },
        third_parties=list(raw.get("third_parties", [])),
        embed_origins=tuple(raw.get("embed", {}).get("origins", [])),
        laws=build_laws(raw),
        regions={k: Text(v) for k, v in raw.get("signup", {}).get("regions", {}).items()},
        raw=raw,
    )
