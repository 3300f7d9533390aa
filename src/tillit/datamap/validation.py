"""Every mistake in a data map's text, each with the line it is on (`problems_in`), for the
system check tillit.E010 and for `load()`, which refuses a map that has any."""

from __future__ import annotations

import re
import tomllib
from typing import Any

from tillit.datamap.brand import check_brand
from tillit.datamap.laws import check_laws
from tillit.datamap.model import (
    COOKIE_CATEGORIES,
    COUNTRY_CODE,
    EMBED_ORIGIN,
    LAWFUL_BASES,
    SIGNUP_FIELDS,
    check_text,
)


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
        found.append((locate(lines, path), message))

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
    check_brand(raw.get("brand", {}), bad)
    check_laws(raw, bad)
    return found


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
            check_text(banner.get(key), ("banner", key), f"banner.{key}", bad)
    categories = raw.get("cookie_categories", {})
    for cat in COOKIE_CATEGORIES:
        if not isinstance(categories.get(cat), dict):
            bad(("cookie_categories",), f"cookie_categories.{cat} is missing")
            continue
        for key in ("title", "description"):
            check_text(
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
            check_text(
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
        check_text(c.get(key), ("cookies", i, key), f"cookie {name!r}: {key}", bad)


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
        check_text(p.get(key), ("purposes", i, key), f"purpose {name!r}: {key}", bad)
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
        check_text(
            p.get("consent_text"),
            ("purposes", i, "consent_text"),
            f"purpose {name!r}: consent_text (required for consent)",
            bad,
        )
    if p.get("lawful_basis") == "legitimate_interest":
        check_text(
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
    check_text(f.get("label"), ("fields", i, "label"), f"field {name!r}: label", bad)


def locate(lines: list[str], path: tuple[Any, ...]) -> int:
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
