"""The data map (operator.toml): policy as code.

`load()` gives the validated map for the file named by TILLIT_OPERATOR_FILE; `problems()` lists
what is wrong with it, each with the line it is on, for the system check tillit.E010.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.translation import get_language

LAWFUL_BASES = {
    "consent": ("Samtykke (art. 6 nr. 1 a)", "Consent (Art. 6(1)(a))"),
    "contract": ("Avtale (art. 6 nr. 1 b)", "Contract (Art. 6(1)(b))"),
    "legal_obligation": (
        "Rettslig forpliktelse (art. 6 nr. 1 c)",
        "Legal obligation (Art. 6(1)(c))",
    ),
    "legitimate_interest": (
        "Berettiget interesse (art. 6 nr. 1 f)",
        "Legitimate interest (Art. 6(1)(f))",
    ),
}
COOKIE_CATEGORIES = ("essential", "analytics", "third_party")
CONSENT_COOKIE = "tillit_consent"
SIGNUP_FIELDS = ("name", "email", "phone", "country")
# An operator's own site, allowed to embed the sign-up form and the cookie banner: an origin,
# https (http only for this machine and reserved test names, for development).
EMBED_ORIGIN = re.compile(
    r"https://[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?"
    r"|http://(localhost|127\.0\.0\.1|\[::1\]|[a-z0-9.-]+\.(localhost|test))(:\d{1,5})?"
)
LANGS = ("nb", "en")


class Text(dict[str, str]):
    """A text in nb and en; str() gives the active language's."""

    def __str__(self) -> str:
        lang = (get_language() or "nb")[:2]
        return self.get(lang) or self.get("nb", "")


@dataclass(frozen=True)
class Purpose:
    id: str
    lawful_basis: str
    required: bool
    categories: list[str]
    title: Text
    retention: Text
    consent_text: Text | None = None
    balancing: Text | None = None
    field: str = ""
    cookie_category: str = ""

    def lawful_basis_label(self) -> str:
        nb, en = LAWFUL_BASES[self.lawful_basis]
        return en if (get_language() or "nb").startswith("en") else nb

    def text_hash(self, lang: str, version: str) -> str:
        """What the person was shown, as a hash: the consent text in their language + version."""
        shown = (self.consent_text or Text()).get(lang, "")
        return hashlib.sha256(f"{version}\n{lang}\n{shown}".encode()).hexdigest()


@dataclass(frozen=True)
class Field:
    name: str
    category: str
    purposes: list[str]
    required: bool
    label: Text


@dataclass(frozen=True)
class CookieCategory:
    id: str
    title: Text
    description: Text

    @property
    def essential(self) -> bool:
        return self.id == "essential"


@dataclass(frozen=True)
class DataMap:
    operator: dict[str, str]
    contacts: dict[str, str]
    policy_version: str
    policy_path: str
    countries: list[str]
    categories: dict[str, Text]
    purposes: dict[str, Purpose]
    fields: dict[str, Field]
    cookies: list[dict[str, Any]]
    authorities: dict[str, dict[str, str]]
    banner: dict[str, Text] = field(default_factory=dict)
    cookie_categories: dict[str, CookieCategory] = field(default_factory=dict)
    third_parties: list[dict[str, str]] = field(default_factory=list)
    # The operator's sites that may frame the sign-up form and call the public API from a
    # browser (docs/embed.md).
    embed_origins: tuple[str, ...] = ()
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    def consent_purposes(self) -> list[Purpose]:
        """The purposes the sign-up form asks consent for (the banner asks for the others)."""
        return [p for p in self.purposes.values() if p.consent_text and p.field]

    def optional_cookie_categories(self) -> list[str]:
        return [c for c in self.cookie_categories if c != "essential"]

    def banner_version(self) -> str:
        return self._banner_version

    @cached_property
    def _banner_version(self) -> str:
        """A hash of everything the cookie banner shows or governs: its texts, the categories,
        every cookie and every third party. Any change asks every visitor again. (Other policy
        changes do not: returning visitors are told of them instead, see tillit.policy.notice.)"""
        shown = {
            "banner": self.raw.get("banner"),
            "categories": self.raw.get("cookie_categories"),
            "cookies": self.raw.get("cookies"),
            "third_parties": self.raw.get("third_parties"),
        }
        canonical = json.dumps(shown, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def authority(self, country: str) -> dict[str, str]:
        return self.authorities.get(country.upper()) or self.authorities["default"]


class DataMapError(Exception):
    def __init__(self, problems: list[tuple[int, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"line {line}: {msg}" for line, msg in problems))


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


def problems_in(text: str) -> list[tuple[int, str]]:
    """Every mistake in a data map's text, as (line number, message)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        at = re.search(r"at line (\d+)", str(error))
        return [(int(at.group(1)) if at else 0, f"not valid TOML: {error}")]
    lines = text.splitlines()
    found: list[tuple[int, str]] = []

    def bad(path: tuple[Any, ...], message: str) -> None:
        found.append((_locate(lines, path), message))

    _check_required(raw, bad)
    categories = raw.get("categories", {})
    purposes = raw.get("purposes", [])
    purpose_ids = {p.get("id") for p in purposes}
    for i, p in enumerate(purposes):
        _check_purpose(p, i, categories, bad)
    for i, f in enumerate(raw.get("fields", [])):
        _check_field(f, i, categories, purpose_ids, bad)
    declared = {f.get("name") for f in raw.get("fields", [])}
    for name in SIGNUP_FIELDS:
        if name not in declared:
            bad(("fields",), f"the sign-up field {name!r} has no [[fields]] entry")
    for i, c in enumerate(raw.get("cookies", [])):
        _check_cookie(c, i, bad)
    _check_banner(raw, bad)
    for i, t in enumerate(raw.get("third_parties", [])):
        _check_third_party(t, i, bad)
    _check_embed(raw.get("embed", {}), bad)
    _check_brand(raw.get("brand", {}), bad)
    return found


BRAND_TEXTS = ("lede", "thanks", "signature")


def _check_brand(brand: Any, bad: Any) -> None:
    """The operator's brand (site/brand.py): colours that meet WCAG AA, texts in both
    languages, and a logo that is an image of at most 200 kB next to this file."""
    from tillit.site.brand import LOGO_MAX_BYTES, LOGO_TYPES, sniff
    from tillit.site.contrast import Palette

    if not isinstance(brand, dict):
        bad(("brand",), "[brand] must be a table")
        return
    for key in BRAND_TEXTS:
        if key in brand:
            _check_text(brand[key], ("brand", key), f"brand.{key}", bad)
    colours = brand.get("colours")
    if colours is not None:
        names = ("background", "text", "accent", "accent_text")
        if not isinstance(colours, dict) or set(colours) != set(names):
            bad(("brand", "colours"), f"brand.colours must give {', '.join(names)}")
        else:
            with translation.override("en"):  # a check's words are the command's: English
                found = Palette(**{n: colours[n] for n in names}).problems()
            for name, problem in found:
                bad(("brand", "colours"), f"brand.colours.{name}: {problem}")
    logo = brand.get("logo")
    if logo is not None:
        path = Path(settings.OPERATOR_FILE).parent / str(logo)
        if Path(str(logo)).suffix.lower() not in LOGO_TYPES:
            bad(("brand", "logo"), "brand.logo must be a .png, .jpg, .webp or .svg file")
        elif not path.is_file():
            bad(("brand", "logo"), f"brand.logo: no file {path}")
        elif path.stat().st_size > LOGO_MAX_BYTES or not sniff(path.read_bytes()):
            bad(("brand", "logo"), "brand.logo must be an image of at most 200 kB")


def _check_embed(embed: Any, bad: Any) -> None:
    origins = embed.get("origins", []) if isinstance(embed, dict) else None
    if not isinstance(origins, list):
        bad(
            ("embed",), 'embed.origins must be a list of origins, such as "https://www.example.com"'
        )
        return
    for origin in origins:
        port = origin.rsplit(":", 1)[-1] if isinstance(origin, str) else ""
        # A browser never writes a scheme's own port (https://x:443 arrives as https://x).
        default = (origin.startswith("https:") and port == "443") or (
            isinstance(origin, str) and origin.startswith("http:") and port == "80"
        )
        if (
            not isinstance(origin, str)
            or not EMBED_ORIGIN.fullmatch(origin)
            or default
            or (port.isdigit() and not 0 < int(port) < 65536)
        ):
            bad(
                ("embed", "origins"),
                f"embed.origins: {origin!r} is not an origin: write scheme://host[:port] with "
                "no path, in lower case, https (http only for localhost), without the "
                "scheme's own port",
            )


def _check_banner(raw: dict[str, Any], bad: Any) -> None:
    banner = raw.get("banner")
    if not isinstance(banner, dict):
        bad(("banner",), "[banner] is missing (the cookie banner's title and text)")
    else:
        for key in ("title", "text"):
            _check_text(banner.get(key), ("banner", key), f"banner.{key}", bad)
    categories = raw.get("cookie_categories", {})
    for cat in COOKIE_CATEGORIES:
        if not isinstance(categories.get(cat), dict):
            bad(("cookie_categories",), f"cookie_categories.{cat} is missing")
            continue
        for key in ("title", "description"):
            _check_text(
                categories[cat].get(key),
                (f"cookie_categories.{cat}", key),
                f"cookie_categories.{cat}.{key}",
                bad,
            )
    for cat in set(categories) - set(COOKIE_CATEGORIES):
        bad(
            (f"cookie_categories.{cat}",),
            f"cookie_categories.{cat}: unknown (use {', '.join(COOKIE_CATEGORIES)})",
        )


def _check_third_party(t: dict[str, Any], i: int, bad: Any) -> None:
    host = t.get("host", "")
    if not re.fullmatch(r"(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*(:\d+)?", str(host)):
        bad(("third_parties", i, "host"), f"third party #{i + 1}: host {host!r} is not a host name")
    if t.get("category") not in COOKIE_CATEGORIES or t.get("category") == "essential":
        bad(
            ("third_parties", i, "category"),
            f"third party {host!r}: category must be analytics or third_party",
        )
    if not t.get("provider"):
        bad(("third_parties", i, "provider"), f"third party {host!r}: provider is missing")


def _check_required(raw: dict[str, Any], bad: Any) -> None:
    for table, key in [("operator", k) for k in ("name", "address", "country", "email", "url")] + [
        ("contacts", "privacy"),
        ("contacts", "support"),
        ("policy", "version"),
    ]:
        value = raw.get(table, {}).get(key)
        if not value:
            bad((table, key), f"{table}.{key} is missing")
        elif isinstance(value, str) and any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            bad((table, key), f"{table}.{key} cannot hold a line break or control character")
    if "default" not in raw.get("authorities", {}):
        bad(("authorities",), "authorities.default is missing (used for countries not listed)")
    for country in raw.get("signup", {}).get("countries", []):
        if not re.fullmatch(r"[A-Z]{2}", str(country)):
            bad(("signup", "countries"), f"{country!r} is not a two-letter country code")


def _check_cookie(c: dict[str, Any], i: int, bad: Any) -> None:
    name = c.get("name")
    if c.get("category") not in COOKIE_CATEGORIES:
        bad(
            ("cookies", i, "category"),
            f"cookie {name!r}: category must be one of {', '.join(COOKIE_CATEGORIES)}",
        )
    for key in ("name", "provider"):
        if not c.get(key):
            bad(("cookies", i, key), f"cookie #{i + 1}: {key} is missing")
    for key in ("lifetime", "purpose"):
        _check_text(c.get(key), ("cookies", i, key), f"cookie {name!r}: {key}", bad)


def _check_purpose(p: dict[str, Any], i: int, categories: dict[str, Any], bad: Any) -> None:
    name = p.get("id") or f"#{i + 1}"
    if not p.get("id"):
        bad(("purposes", i), f"purpose #{i + 1} has no id")
    if p.get("lawful_basis") not in LAWFUL_BASES:
        bad(
            ("purposes", i, "lawful_basis"),
            f"purpose {name!r}: lawful_basis must be one of {', '.join(LAWFUL_BASES)}",
        )
    for key in ("title", "retention"):
        _check_text(p.get(key), ("purposes", i, key), f"purpose {name!r}: {key}", bad)
    by_banner = "cookie_category" in p
    if by_banner and p.get("cookie_category") not in COOKIE_CATEGORIES[1:]:
        bad(
            ("purposes", i, "cookie_category"),
            f"purpose {name!r}: cookie_category must be analytics or third_party",
        )
    if by_banner and p.get("lawful_basis") != "consent":
        bad(
            ("purposes", i, "lawful_basis"),
            f"purpose {name!r}: what the cookie banner asks for rests on consent",
        )
    if (
        p.get("lawful_basis") == "consent"
        and not by_banner
        and not re.fullmatch(r"consent_[a-z_]+", p.get("field", ""))
    ):
        bad(
            ("purposes", i, "field"),
            f"purpose {name!r}: field must name its form checkbox, like consent_offers "
            "(or cookie_category, when the cookie banner asks)",
        )
    if p.get("lawful_basis") == "consent" and not by_banner:
        _check_text(
            p.get("consent_text"),
            ("purposes", i, "consent_text"),
            f"purpose {name!r}: consent_text (required for consent)",
            bad,
        )
    if p.get("lawful_basis") == "legitimate_interest":
        _check_text(
            p.get("balancing"),
            ("purposes", i, "balancing"),
            f"purpose {name!r}: balancing (the legitimate-interest test)",
            bad,
        )
    for cat in p.get("categories", []):
        if cat not in categories:
            bad(("purposes", i, "categories"), f"purpose {name!r}: unknown category {cat!r}")


def _check_field(
    f: dict[str, Any], i: int, categories: dict[str, Any], purpose_ids: set[Any], bad: Any
) -> None:
    name = f.get("name") or f"#{i + 1}"
    if f.get("category") not in categories:
        bad(("fields", i, "category"), f"field {name!r}: unknown category {f.get('category')!r}")
    if not f.get("purposes"):
        bad(("fields", i, "purposes"), f"field {name!r} has no purpose")
    for pid in f.get("purposes", []):
        if pid not in purpose_ids:
            bad(("fields", i, "purposes"), f"field {name!r}: unknown purpose {pid!r}")
    _check_text(f.get("label"), ("fields", i, "label"), f"field {name!r}: label", bad)


def _check_text(value: Any, path: tuple[Any, ...], what: str, bad: Any) -> None:
    if not isinstance(value, dict) or not all(value.get(lang) for lang in LANGS):
        bad(path, f"{what} needs a text in nb and en")


def _locate(lines: list[str], path: tuple[Any, ...]) -> int:
    """The line a dotted path is on: its key if present, else the table that should hold it."""
    table, rest = path[0], path[1:]
    index = rest[0] if rest and isinstance(rest[0], int) else None
    key = next((p for p in rest if isinstance(p, str)), None)
    header = re.compile(rf"^\s*\[\[?{re.escape(table)}(\.[^\]]*)?\]\]?\s*$")
    any_header = re.compile(r"^\s*\[")
    start, seen = None, -1
    for n, line in enumerate(lines):
        if header.match(line):
            seen += 1
            if index is None or seen == index:
                start = n
                break
    if start is None:
        return 1
    for n in range(start + 1, len(lines)):
        if any_header.match(lines[n]):
            break
        if key and re.match(rf"^\s*{re.escape(key)}\s*=", lines[n]):
            return n + 1
    return start + 1


def _text(value: Any) -> Text | None:
    return Text(value) if isinstance(value, dict) else None


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
            consent_text=_text(p.get("consent_text")),
            balancing=_text(p.get("balancing")),
            field=p.get("field", ""),
            cookie_category=p.get("cookie_category", ""),
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
        raw=raw,
    )
