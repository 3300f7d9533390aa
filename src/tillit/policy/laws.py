"""A privacy law as a person reads it (P33): its name, the rights it gives with the law's own
names for them, by when an answer is due and how far it may be extended, and whom to complain
to, in the active language.

The figures and names are the data map's ([laws]); `entry()` keeps a law in both languages
(as the policy's versions store it), `from_entry()` words one in the active language, so the
privacy centre, the page after a request, the policy page and the export say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _

from tillit import datamap
from tillit.datamap import Kind
from tillit.datamap.countries import country_choices


def length(period: dict[str, int] | None) -> str:
    """'1 month', '45 days', '1 month and 15 days'; '' for none."""
    parts = []
    months, days = (period or {}).get("months", 0), (period or {}).get("days", 0)
    if months:
        parts.append(ngettext("%(n)d month", "%(n)d months", months) % {"n": months})
    if days:
        parts.append(ngettext("%(n)d day", "%(n)d days", days) % {"n": days})
    return _(" and ").join(parts)


@dataclass(frozen=True)
class Right:
    kind: str
    label: str
    # Set when this right is carried out sooner than the law's deadline.
    sooner: str = ""


@dataclass(frozen=True)
class Shown:
    """What the person is shown of a law."""

    id: str
    name: str
    places: list[str]
    rights: list[Right]
    deadline: str
    extension: str
    authority: dict[str, str]
    # Countries under this law with an authority of their own ([authorities.XX]).
    local_authorities: list[dict[str, str]]
    note: str
    gpc_opts_out_of_sale: bool
    authorised_agents: bool


def entry(law: datamap.Law, dm: datamap.DataMap) -> dict[str, Any]:
    """A law in both languages, as JSON: what the policy's versions keep."""
    order = {kind: i for i, kind in enumerate(Kind.values)}
    served = [c for c in dm.countries if dm.law_of(c) is law]
    return {
        "id": law.id,
        "name": dict(law.name),
        "countries": served,
        "rights": [
            {
                "kind": kind,
                "label": dict(label),
                "within": law.right_deadlines[kind].as_dict()
                if kind in law.right_deadlines
                else None,
            }
            for kind, label in sorted(law.rights.items(), key=lambda kv: order.get(kv[0], 99))
        ],
        "deadline": law.deadline.as_dict(),
        "extension": law.extension.as_dict() if law.extension else None,
        "authority": dict(law.authority),
        "local_authorities": [
            dict(a) for code, a in sorted(dm.authorities.items()) if code in served
        ],
        "note": dict(law.note) if law.note else None,
        "regulation": law.regulation,
        "gpc_opts_out_of_sale": law.gpc_opts_out_of_sale,
        "authorised_agents": law.authorised_agents,
    }


def _here(text: dict[str, str] | None) -> str:
    lang = (get_language() or "nb")[:2]
    return (text or {}).get(lang) or (text or {}).get("nb", "")


def from_entry(law: dict[str, Any], authority: dict[str, str] | None = None) -> Shown:
    """The law in the active language; `authority`, when given, is the person's own (a GDPR
    country's), shown first."""
    own = authority or law["authority"]
    return Shown(
        id=law["id"],
        name=_here(law["name"]),
        places=[name for code, name in country_choices(law["countries"]) if code],
        rights=[
            Right(r["kind"], _here(r["label"]), length(r.get("within"))) for r in law["rights"]
        ],
        deadline=length(law["deadline"]),
        extension=length(law.get("extension")),
        authority=own,
        local_authorities=[a for a in law.get("local_authorities", []) if a != own],
        note=_here(law.get("note")),
        gpc_opts_out_of_sale=bool(law.get("gpc_opts_out_of_sale")),
        authorised_agents=bool(law.get("authorised_agents")),
    )


def entries(dm: datamap.DataMap) -> list[dict[str, Any]]:
    """Every law that covers a country the sign-up serves: the operator's own first."""
    own = dm.law(dm.operator["country"])
    covering = {law.id for c in dm.countries if (law := dm.law_of(c))}
    laws = [own] + [law for law in dm.laws.values() if law is not own and law.id in covering]
    return [entry(law, dm) for law in laws]


def served() -> list[Shown]:
    dm = datamap.load()
    first = dm.authority(dm.operator["country"])
    return [from_entry(e, first if i == 0 else None) for i, e in enumerate(entries(dm))]


def of_person(country: str | None) -> Shown:
    """The law of a person living in `country` (the operator's own when unknown)."""
    dm = datamap.load()
    code = country or dm.operator["country"]
    return from_entry(entry(dm.law(code), dm), dm.authority(code))


def as_dict(law: Shown) -> dict[str, Any]:
    """For an export's data.json."""
    return {
        "law": law.name,
        "rights": [
            {"kind": r.kind, "name": r.label, **({"within": r.sooner} if r.sooner else {})}
            for r in law.rights
        ],
        "answer_within": law.deadline,
        "extension_up_to": law.extension or None,
        "authority": law.authority,
    }
