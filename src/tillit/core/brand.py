"""The operator's brand: name, logo, colours, contact details and the texts that are the
operator's own (the sign-up page's lede, the thank-you page, e-mail signatures).

They come from the data map's [operator] and [brand] (operator.toml) and, field by field, from
what an administrator set in the console (core.models.Brand), which wins. Every public page
and e-mail reads `current()`: it is kept in each process for BRAND_SECONDS, so a visitor's
page costs no query; a change in the console shows in every process within that time. When
the database cannot be read, the brand last read is used (the data map's if none was)."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction

from tillit import datamap
from tillit.datamap import Text
from tillit.datamap.brand import sniff
from tillit.datamap.contrast import Palette

BRAND_SECONDS = 30
DEFAULT = Palette(background="#fbfbf8", text="#1b1f24", accent="#0b5cad", accent_text="#ffffff")


@dataclass(frozen=True)
class Brand:
    operator: dict[str, str]
    palette: Palette = DEFAULT
    logo: bytes = b""
    logo_type: str = ""
    lede: Text | None = None
    thanks: Text | None = None
    signature: Text | None = None
    version: str = field(default="")

    @property
    def css(self) -> str:
        props = ";".join(f"{k}:{v}" for k, v in self.palette.derived().items())
        return f":root{{{props}}}\n"


def _texts(row: Any, raw: dict[str, Any], key: str) -> Text | None:
    nb = getattr(row, f"{key}_nb", "") if row else ""
    en = getattr(row, f"{key}_en", "") if row else ""
    if nb or en:
        return Text(nb=nb or en, en=en or nb)
    given = raw.get(key)
    return Text(given) if isinstance(given, dict) else None


def _file_logo(raw: dict[str, Any]) -> tuple[bytes, str]:
    name = raw.get("logo")
    if not name:
        return b"", ""
    path = Path(settings.OPERATOR_FILE).parent / str(name)
    try:
        data = path.read_bytes()
    except OSError:
        return b"", ""
    return data, sniff(data)


def build(dm: datamap.DataMap, row: Any) -> Brand:
    raw = dm.raw.get("brand", {}) or {}
    operator = dict(dm.operator)
    for key in ("name", "email", "phone", "address"):
        if row and getattr(row, key):
            operator[key] = getattr(row, key)
    colours = raw.get("colours", {}) or {}
    if row and row.background:
        colours = {k: getattr(row, k) for k in ("background", "text", "accent", "accent_text")}
    palette = Palette(**{k: colours.get(k, getattr(DEFAULT, k)) for k in vars(DEFAULT)})
    if palette.problems():
        palette = DEFAULT  # the checks refuse such colours; this is the last line
    logo, logo_type = (bytes(row.logo), row.logo_type) if row and row.logo else _file_logo(raw)
    brand = Brand(
        operator=operator,
        palette=palette,
        logo=logo,
        logo_type=logo_type,
        lede=_texts(row, raw, "lede"),
        thanks=_texts(row, raw, "thanks"),
        signature=_texts(row, raw, "signature"),
    )
    shown = json.dumps(
        [operator, vars(palette), brand.lede, brand.thanks, brand.signature, logo_type],
        sort_keys=True,
        default=str,
    )
    digest = hashlib.sha256(shown.encode() + logo).hexdigest()[:12]
    return Brand(**{**vars(brand), "version": digest})


_kept: dict[str, Any] = {"until": 0.0, "key": None, "brand": None}


def current() -> Brand:
    dm = datamap.load()
    if _kept["brand"] is not None and _kept["key"] == id(dm) and time.monotonic() < _kept["until"]:
        return _kept["brand"]
    from tillit.core.models import Brand as Row

    try:
        # In a savepoint: a failed read must not spoil a transaction the caller holds.
        with transaction.atomic():
            row = Row.objects.filter(pk=1).first()
    except DatabaseError:
        kept = _kept["brand"]
        return kept if kept is not None else build(dm, None)
    brand = build(dm, row)
    _kept.update(until=time.monotonic() + BRAND_SECONDS, key=id(dm), brand=brand)
    return brand


def kept_or_datamap() -> Brand:
    """The brand without asking the database (for the page that says it cannot be reached)."""
    brand = _kept["brand"]
    return brand if brand is not None else build(datamap.load(), None)


def forget() -> None:
    _kept["brand"] = None
