import re
from pathlib import Path

import pytest
from django.core.checks import run_checks

import tillit
from tillit import datamap
from tillit.env import KNOWN

DOCS = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_every_environment_variable_is_documented():
    from tillit.cli import language
    from tillit.reference_partner.settings import variables_read as PARTNER_KNOWN

    language()  # records the command's variable
    known = KNOWN | PARTNER_KNOWN

    documented = set(re.findall(r"^### `([A-Z_]+)`", DOCS.read_text(), re.M))
    secrets_by_file = {n for n in known if n.endswith("_FILE") and n[:-5] in documented}
    assert {n for n in PARTNER_KNOWN if n.startswith("PARTNER_")}, "the partner's reads are kept"
    assert known - secrets_by_file <= documented, sorted(known - secrets_by_file - documented)


def test_every_system_check_id_is_documented():
    source = "\n".join(p.read_text() for p in Path(tillit.__file__).parent.rglob("checks.py"))
    ids = set(re.findall(r'id="(tillit\.[EW]\d+)"', source))
    assert ids and all(f"`{i}`" in DOCS.read_text() for i in ids)


def test_the_example_data_map_is_valid():
    assert datamap.problems() == []
    dm = datamap.load()
    assert {f.name for f in dm.fields.values()} >= {"name", "email", "phone", "country"}
    assert all(p.lawful_basis in datamap.LAWFUL_BASES for p in dm.purposes.values())


@pytest.mark.django_db
@pytest.mark.promise("P8")
def test_a_purpose_without_a_lawful_basis_is_named_with_its_line(tmp_path, settings):
    text = (
        Path(settings.OPERATOR_FILE)
        .read_text()
        .replace('lawful_basis = "legitimate_interest"', 'lawful_basis = "because"', 1)
    )
    bad = tmp_path / "operator.toml"
    bad.write_text(text)
    line = next(n for n, s in enumerate(text.splitlines(), 1) if '"because"' in s)
    settings.OPERATOR_FILE = bad
    errors = [e for e in run_checks() if e.id == "tillit.E010"]
    assert errors and f"line {line}:" in errors[0].msg and "contact" in errors[0].msg


@pytest.mark.promise("P8")
def test_legitimate_interest_needs_its_balancing_test_written_down(settings):
    source = Path(settings.OPERATOR_FILE).read_text()
    start = source.index('id = "contact"')
    end = source.index("[[purposes]]", start)
    broken = source[:start] + re.sub(r"\nbalancing = .*", "", source[start:end]) + source[end:]
    assert any("balancing" in msg for _, msg in datamap.problems_in(broken))


def test_broken_toml_names_its_line():
    [(line, msg)] = datamap.problems_in('[operator]\nname = "x"\nbroken here\n')
    assert line == 3 and "TOML" in msg


@pytest.mark.django_db
def test_debug_outside_demo_mode_is_an_error(settings):
    settings.DEBUG, settings.DEMO = True, False
    assert "tillit.E020" in {e.id for e in run_checks()}
