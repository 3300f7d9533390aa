"""The countries a form offers, named in the visitor's language: CLDR's names for countries
(countries.json, written by scripts/country-names, since Babel's own data would cost each web
process some 4 MB) and the data map's for the states it lists ("US-CA")."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from tillit import datamap


def country_choices(codes: list[str]) -> list[tuple[str, str]]:
    lang = "nb" if (get_language() or "nb")[:2] == "nb" else "en"
    # A state in the list ("US-CA") is named by the data map; CLDR names the countries.
    regions = datamap.load().regions
    named = tuple((c, regions[c][lang]) for c in codes if c in regions)
    return _country_choices(lang, tuple(codes), named)


@functools.cache
def _country_choices(
    lang: str, codes: tuple[str, ...], regions: tuple[tuple[str, str], ...]
) -> list[tuple[str, str]]:
    names = {**_country_names()[lang], **dict(regions)}
    return [("", _("Choose a country"))] + [(c, names.get(c, c)) for c in codes]


@functools.cache
def _country_names() -> dict[str, dict[str, str]]:
    # CLDR's names, written out by scripts/country-names (Babel's own data would cost each
    # web process some 4 MB).
    return json.loads((Path(__file__).parent / "countries.json").read_text(encoding="utf-8"))
