"""The data map (operator.toml): policy as code.

`load()` gives the validated map for the file named by TILLIT_OPERATOR_FILE; `problems()` lists
what is wrong with it, each with the line it is on, for the system check tillit.E010.

The privacy law a person lives under is data too (`[laws.NAME]`, P33): the rights it gives, the
deadline of an answer and the extension allowed, the authority to complain to, and defaults
such as whether Global Privacy Control opts out of sale or sharing. Each law names the
countries (or states, as ISO 3166-2 codes like "US-CA") it applies to, so code asks
`law(country)` and never branches on a country.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
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
# A sign-up country: ISO 3166-1 alpha-2, or an ISO 3166-2 subdivision ("US-CA") where the law
# is a state's rather than the country's.
COUNTRY_CODE = re.compile(r"[A-Z]{2}(-[A-Z0-9]{1,3})?")
# OpenDSR v2's `regulation` field: the law a request is made under, as a partner reads it.
REGULATIONS = ("gdpr", "ccpa")


def iso_country(code: str) -> str:
    """The country a sign-up code is in ("US-CA" -> "US"): what phone numbers are read by and
    what partners are sent (ISO 3166-1 alpha-2, as the lead's schema says)."""
    return code.split("-", 1)[0].upper()


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
    # A sale or sharing of personal information, as the CCPA means it: a law whose
    # gpc_opts_out_of_sale is set takes Global Privacy Control as the person's "no" to it.
    sale_or_sharing: bool = False

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
class Period:
    """A length of time as a law writes it: calendar months (clamped to a month's last day),
    days, or both."""

    months: int = 0
    days: int = 0

    def __add__(self, other: Period) -> Period:
        return Period(self.months + other.months, self.days + other.days)

    def after(self, when: datetime) -> datetime:
        from tillit.rights.deadlines import add_months

        return add_months(when, self.months) + timedelta(days=self.days)

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in (("months", self.months), ("days", self.days)) if v}


@dataclass(frozen=True)
class Law:
    """A privacy law, as the data map gives it: what a person living under it may ask, by
    when they must have an answer, and whom they may complain to."""

    id: str
    name: Text
    countries: tuple[str, ...]
    # Request kind (rights.models.Kind) -> the law's own name for that right.
    rights: dict[str, Text]
    deadline: Period
    authority: dict[str, str]
    regulation: str = "gdpr"
    extension: Period | None = None
    # Rights that must be carried out sooner than the law's deadline (kind -> period).
    right_deadlines: dict[str, Period] = field(default_factory=dict)
    gpc_opts_out_of_sale: bool = False
    authorised_agents: bool = False
    note: Text | None = None

    def period(self, kind: str) -> Period:
        return self.right_deadlines.get(kind, self.deadline)

    def due(self, received: datetime, kind: str = "") -> datetime:
        """When a request of this kind, received then, must be answered."""
        return self.period(kind).after(received)

    def latest_extension(self, received: datetime, kind: str = "") -> datetime | None:
        """The furthest an extension may take the answer, counted from receipt; None when
        the law (or this right) allows none."""
        if self.extension is None or kind in self.right_deadlines:
            return None
        return (self.deadline + self.extension).after(received)


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
    laws: dict[str, Law] = field(default_factory=dict)
    # Names of the subdivisions in the sign-up list ("US-CA"), which CLDR's country names lack.
    regions: dict[str, Text] = field(default_factory=dict)
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

    def law_of(self, country: str) -> Law | None:
        """The law the data map gives for a country or state ("US-CA", else "US"), or None."""
        code = country.upper()
        by_country = self._law_by_country
        return by_country.get(code) or by_country.get(code.split("-")[0])

    @cached_property
    def _law_by_country(self) -> dict[str, Law]:
        return {c: law for law in self.laws.values() for c in law.countries}

    def law(self, country: str) -> Law:
        """The law of a person living in `country`; for a country the data map gives none
        (one no longer served), the law of the operator's own country. The check tillit.E011
        keeps every served country and the operator's own covered."""
        found = self.law_of(country) or self.law_of(self.operator["country"])
        if found is None:
            raise LookupError(f"no law in the data map for {country} or {self.operator['country']}")
        return found

    def lawless_countries(self) -> list[str]:
        """The served countries, and the operator's own, that no law covers (tillit.E011)."""
        wanted = [*self.countries, self.operator["country"]]
        return [c for c in dict.fromkeys(wanted) if self.law_of(c) is None]

    def authority(self, country: str) -> dict[str, str]:
        """Whom a person living in `country` may complain to: the country's own authority
        where the data map names one ([authorities.XX], as under the GDPR, where each country
        has its own), else its law's."""
        own = self.authorities.get(country.upper())
        return own or self.law(country).authority

    def country_name(self, code: str) -> str:
        """A region's name from the data map ("US-CA"); "" for a country (CLDR names those)."""
        region = self.regions.get(code)
        return str(region) if region else ""


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
    _check_laws(raw, bad)
    return found


LAW_KEYS = {
    "like", "name", "countries", "rights", "deadline", "extension", "right_deadlines",
    "authority", "regulation", "gpc_opts_out_of_sale", "authorised_agents", "note",
}  # fmt: skip


def resolved_laws(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The [laws] tables with `like = "other"` filled in from the other law: a law that
    differs from another in a few keys gives only those."""
    laws = raw.get("laws", {})
    if not isinstance(laws, dict):
        return {}
    out = {}
    for name, law in laws.items():
        if not isinstance(law, dict):
            continue
        base = laws.get(law.get("like", ""), {})
        out[name] = {**(base if isinstance(base, dict) else {}), **law}
    return out


def _check_laws(raw: dict[str, Any], bad: Any) -> None:
    """Each law complete and in both languages; every country under at most one law."""
    laws = raw.get("laws", {})
    if not isinstance(laws, dict):
        bad(("laws",), "[laws] must be a table of laws, such as [laws.gdpr]")
        return
    seen: dict[str, str] = {}
    fallback = raw.get("authorities", {}).get("default")
    for name, law in resolved_laws(raw).items():
        table = f"laws.{name}"
        like = laws[name].get("like")
        if like is not None and (like not in laws or "like" in laws.get(like, {})):
            bad((table, "like"), f"{table}.like: {like!r} is not a law of its own in [laws]")
        for key in sorted(set(law) - LAW_KEYS):
            bad((table, key), f"{table}.{key}: unknown (use {', '.join(sorted(LAW_KEYS))})")
        _check_text(law.get("name"), (table, "name"), f"{table}.name", bad)
        _check_law_rights(law, table, bad)
        _check_law_periods(law, table, bad)
        _check_authority(law.get("authority", fallback), table, bad)
        if law.get("regulation", "gdpr") not in REGULATIONS:
            bad(
                (table, "regulation"), f"{table}.regulation must be one of {', '.join(REGULATIONS)}"
            )
        for key in ("gpc_opts_out_of_sale", "authorised_agents"):
            if not isinstance(law.get(key, False), bool):
                bad((table, key), f"{table}.{key} must be true or false")
        if "note" in law:
            _check_text(law["note"], (table, "note"), f"{table}.note", bad)
        _check_law_countries(law.get("countries"), table, seen, bad)


def _check_law_countries(countries: Any, table: str, seen: dict[str, str], bad: Any) -> None:
    if not isinstance(countries, list) or not countries:
        bad((table, "countries"), f"{table}.countries must list the countries it applies to")
        return
    for code in countries:
        if not isinstance(code, str) or not COUNTRY_CODE.fullmatch(code):
            bad((table, "countries"), f"{table}.countries: {code!r} is not a country code")
        elif code in seen:
            bad((table, "countries"), f"{table}.countries: {code} is under {seen[code]} too")
        else:
            seen[code] = table


def _check_law_rights(law: dict[str, Any], table: str, bad: Any) -> None:
    from tillit.rights.models import Kind

    rights = law.get("rights")
    if not isinstance(rights, dict) or not rights:
        bad((table, "rights"), f"{table}.rights must name the rights the law gives")
        return
    for kind, label in rights.items():
        if kind not in Kind.values:
            bad((table, "rights"), f"{table}.rights.{kind}: unknown (use {', '.join(Kind.values)})")
        _check_text(label, (f"{table}.rights", kind), f"{table}.rights.{kind}", bad)
    for kind in law.get("right_deadlines", {}):
        if kind not in rights:
            bad((table, "right_deadlines"), f"{table}.right_deadlines.{kind}: not in its rights")


def _check_law_periods(law: dict[str, Any], table: str, bad: Any) -> None:
    if "deadline" not in law:
        bad((table, "deadline"), f"{table}.deadline is missing, such as {{ months = 1 }}")
    periods = [("deadline", law.get("deadline")), ("extension", law.get("extension"))]
    extra = law.get("right_deadlines", {})
    if not isinstance(extra, dict):
        bad((table, "right_deadlines"), f"{table}.right_deadlines must be a table")
        extra = {}
    periods += [(f"right_deadlines.{kind}", value) for kind, value in extra.items()]
    for what, value in periods:
        if value is not None and _period(value) is None:
            bad(
                (table, what.split(".")[0]),
                f"{table}.{what} must be {{ months = N }}, {{ days = N }} or both, N above 0",
            )


def _period(value: Any) -> Period | None:
    if not isinstance(value, dict) or not value or set(value) - {"months", "days"}:
        return None
    if not all(type(n) is int and n > 0 for n in value.values()):
        return None
    return Period(months=value.get("months", 0), days=value.get("days", 0))


def _check_authority(authority: Any, table: str, bad: Any) -> None:
    if not isinstance(authority, dict) or not authority.get("name") or not authority.get("url"):
        bad((table, "authority"), f"{table}.authority needs a name and a url (address optional)")
        return
    if not str(authority["url"]).startswith("https://"):
        bad((table, "authority"), f"{table}.authority.url must be an https address")


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
    regions = raw.get("signup", {}).get("regions", {})
    for country in raw.get("signup", {}).get("countries", []):
        if not COUNTRY_CODE.fullmatch(str(country)):
            bad(
                ("signup", "countries"),
                f"{country!r} is not a country code (two letters, or a state such as US-CA)",
            )
        elif "-" in country:
            _check_text(
                regions.get(country) if isinstance(regions, dict) else None,
                ("signup", "regions"),
                f"signup.regions.{country} (its name)",
                bad,
            )


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
    _check_sale(p, i, name, bad)


def _check_sale(p: dict[str, Any], i: int, name: str, bad: Any) -> None:
    """A sale or sharing (CCPA) is something a person may refuse, by GPC among other ways."""
    if not isinstance(p.get("sale_or_sharing", False), bool):
        bad(
            ("purposes", i, "sale_or_sharing"),
            f"purpose {name!r}: sale_or_sharing is true or false",
        )
    elif p.get("sale_or_sharing") and p.get("required"):
        bad(
            ("purposes", i, "sale_or_sharing"),
            f"purpose {name!r}: a sale or sharing is one a person may opt out of, so not required",
        )


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
        laws=_laws(raw),
        regions={k: Text(v) for k, v in raw.get("signup", {}).get("regions", {}).items()},
        raw=raw,
    )


def _laws(raw: dict[str, Any]) -> dict[str, Law]:
    fallback = raw.get("authorities", {}).get("default", {})
    laws = {}
    for name, law in resolved_laws(raw).items():
        extension = law.get("extension")
        laws[name] = Law(
            id=name,
            name=Text(law["name"]),
            countries=tuple(law["countries"]),
            rights={kind: Text(label) for kind, label in law["rights"].items()},
            deadline=_period(law["deadline"]) or Period(months=1),
            authority=dict(law.get("authority", fallback)),
            regulation=law.get("regulation", "gdpr"),
            extension=_period(extension) if extension else None,
            right_deadlines={
                kind: _period(value) or Period()
                for kind, value in law.get("right_deadlines", {}).items()
            },
            gpc_opts_out_of_sale=bool(law.get("gpc_opts_out_of_sale")),
            authorised_agents=bool(law.get("authorised_agents")),
            note=_text(law.get("note")),
        )
    return laws
