"""The data map's [laws]: the tables that say, per law, which countries it covers, the rights it
gives and how soon a request must be answered (P33). `resolved_laws()` fills in a law declared
`like` another; `check_laws()` finds the mistakes; `build_laws()` makes the `Law` values."""

from __future__ import annotations

from typing import Any

from tillit.datamap.model import (
    COUNTRY_CODE,
    REGULATIONS,
    Kind,
    Law,
    Period,
    Text,
    check_text,
    text_or_none,
)

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


def check_laws(raw: dict[str, Any], bad: Any) -> None:
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
        check_text(law.get("name"), (table, "name"), f"{table}.name", bad)
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
            check_text(law["note"], (table, "note"), f"{table}.note", bad)
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
    rights = law.get("rights")
    if not isinstance(rights, dict) or not rights:
        bad((table, "rights"), f"{table}.rights must name the rights the law gives")
        return
    for kind, label in rights.items():
        if kind not in Kind.values:
            bad((table, "rights"), f"{table}.rights.{kind}: unknown (use {', '.join(Kind.values)})")
        check_text(label, (f"{table}.rights", kind), f"{table}.rights.{kind}", bad)
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
        if value is not None and period_of(value) is None:
            bad(
                (table, what.split(".")[0]),
                f"{table}.{what} must be {{ months = N }}, {{ days = N }} or both, N above 0",
            )


def period_of(value: Any) -> Period | None:
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


def build_laws(raw: dict[str, Any]) -> dict[str, Law]:
    fallback = raw.get("authorities", {}).get("default", {})
    laws = {}
    for name, law in resolved_laws(raw).items():
        extension = law.get("extension")
        laws[name] = Law(
            id=name,
            name=Text(law["name"]),
            countries=tuple(law["countries"]),
            rights={kind: Text(label) for kind, label in law["rights"].items()},
            deadline=period_of(law["deadline"]) or Period(months=1),
            authority=dict(law.get("authority", fallback)),
            regulation=law.get("regulation", "gdpr"),
            extension=period_of(extension) if extension else None,
            right_deadlines={
                kind: period_of(value) or Period()
                for kind, value in law.get("right_deadlines", {}).items()
            },
            gpc_opts_out_of_sale=bool(law.get("gpc_opts_out_of_sale")),
            authorised_agents=bool(law.get("authorised_agents")),
            note=text_or_none(law.get("note")),
        )
    return laws
