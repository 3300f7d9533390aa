"""Every string marked for translation has an nb translation, and the compiled catalogue is the
one its source says: `make messages` is run over a copy of the code, and a string added to a
template or the code without its nb translation (or with a fuzzy guess, which Django would not
show) fails here, naming the string."""

from __future__ import annotations

import gettext
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

pytestmark = pytest.mark.promise("P10")

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "tillit"
CATALOGUE = PACKAGE / "locale" / "nb" / "LC_MESSAGES"


def untranslated(po: Path) -> list[str]:
    with po.open("rb") as f:
        catalogue = read_po(f)
    missing = []
    for message in catalogue:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            missing.append(str(message.id if isinstance(message.id, str) else message.id[0]))
    return missing


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="gettext is not installed")
def test_every_marked_string_of_code_and_templates_has_an_nb_translation(tmp_path):
    copy = tmp_path / "tillit"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    env = {**os.environ, "TILLIT_DATA_DIR": str(tmp_path / "data")}
    subprocess.run(
        [sys.executable, "-m", "tillit", "makemessages", "-l", "nb", "--no-location"]
        + ["--ignore", "reference_partner/*"],
        cwd=copy,
        env=env,
        check=True,
        capture_output=True,
    )
    missing = untranslated(copy / "locale" / "nb" / "LC_MESSAGES" / "django.po")
    assert missing == [], f"run `make messages` and translate these in django.po: {missing}"


def test_the_compiled_catalogue_is_the_source_catalogue():
    with (CATALOGUE / "django.po").open("rb") as f:
        source = read_po(f)
    with (CATALOGUE / "django.mo").open("rb") as f:
        compiled = gettext.GNUTranslations(f)
    stale = []
    for message in source:
        if not message.id or message.fuzzy or message.context:
            continue
        if isinstance(message.id, str) and compiled.gettext(message.id) != message.string:
            stale.append(message.id)
    assert stale == [], f"django.mo is stale (run `make messages`): {stale[:5]}"
