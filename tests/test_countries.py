"""The sign-up form's country names come from a file (src/tillit/datamap/countries.json) written
from Babel's CLDR data by scripts/country-names; the file must say what Babel says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.promise("P3")
def test_the_country_names_file_is_what_babel_says():
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "country-names"), "--check"], check=False
    )
    assert check.returncode == 0, "run: .venv/bin/python scripts/country-names"


@pytest.mark.promise("P3")
@pytest.mark.django_db
def test_the_form_names_countries_in_the_visitors_language(client, partner):
    assert ">Norge<" in client.get("/").content.decode()
    assert ">Norway<" in client.get("/en/").content.decode()
