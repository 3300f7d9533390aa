"""What the data map says, as values: texts in both languages, purposes and their lawful bases,
the declared fields, cookie categories, the laws a person may live under (with the rights each
gives and its deadlines), and the map itself (`DataMap`). `load()` (in the package) builds one
from operator.toml once it is valid."""

from __future__ import annotations

import calendar
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

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


def text_or_none(value: Any) -> Text | None:
    return Text(value) if isinstance(value, dict) else None


def check_text(value: Any, path: tuple[Any, ...], what: str, bad: Any) -> None:
    if not isinstance(value, dict) or not all(value.get(lang) for lang in LANGS):
        bad(path, f"{what} needs a text in nb and en")


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


def add_months(when: datetime, months: int) -> datetime:
    """The same date `months` later, or that month's last day when it has no such date
    (31 January + 1 month = 28 or 29 February)."""
    month0 = when.month - 1 + months
    year, month = when.year + month0 // 12, month0 % 12 + 1
    day = min(when.day, calendar.monthrange(year, month)[1])
    return when.replace(year=year, month=month, day=day)


@dataclass(frozen=True)
class Period:
    """A length of time as a law writes it: calendar months (clamped to a month's last day),
    days, or both."""

    months: int = 0
    days: int = 0

    def __add__(self, other: Period) -> Period:
        return Period(self.months + other.months, self.days + other.days)

    def after(self, when: datetime) -> datetime:
        return add_months(when, self.months) + timedelta(days=self.days)

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in (("months", self.months), ("days", self.days)) if v}


class Kind(models.TextChoices):
    """The rights a person can ask for in the privacy centre, as a law's `rights` names them."""

    ACCESS = "access", _("See my data")
    RECTIFICATION = "rectification", _("Correct my data")
    RESTRICTION = "restriction", _("Limit the use of my data")
    PORTABILITY = "portability", _("Take my data with me")
    ERASURE = "erasure", _("Delete my data")
    STOP_OFFERS = "stop_offers", _("Stop offer notifications")
    WITHDRAW = "withdraw", _("Withdraw all my consent")
    OBJECTION = "objection", _("Object to processing")


@dataclass(frozen=True)
class Law:
    """A privacy law, as the data map gives it: what a person living under it may ask, by
    when they must have an answer, and whom they may complain to."""

    id: str
    name: Text
    countries: tuple[str, ...]
    # Request kind (Kind) -> the law's own name for that right.
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
