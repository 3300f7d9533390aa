import os
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tillit.partners.models import Partner
from tillit.vault.models import Purpose

pytestmark = pytest.mark.django_db


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_the_migrations_match_the_models():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


@pytest.mark.promise("P18")
def test_partners_add_list_disable(tmp_path):
    out = run(
        "partners",
        "add",
        "broker-b",
        "--name",
        "Broker B",
        "--endpoint",
        "https://broker-b.example.com/tillit",
        "--privacy-url",
        "https://broker-b.example.com/privacy",
        "--countries",
        "no,se",
        "--dpa-signed-on",
        "2026-01-01",
        "--compliance-attested-on",
        "2026-01-02",
    )
    partner = Partner.objects.get(slug="broker-b")
    secret = out.split("signing secret (shown once; give it to the partner): ")[1].strip()
    assert partner.secret() == secret.encode() and partner.countries == ["NO", "SE"]
    assert partner.secret_envelope.purpose == Purpose.PARTNER_SECRET
    assert "DPA+compliance" in run("partners", "list")
    run("partners", "disable", "broker-b")
    assert not Partner.objects.get(slug="broker-b").active


@pytest.mark.promise("P18")
def test_partners_rotate_secret_keeps_the_old_one_for_the_overlap(partner):
    old = partner.secret()
    out = run("partners", "rotate-secret", partner.slug)  # a day's overlap by default
    new = out.split("signing secret (shown once; give it to the partner): ")[1].split()[0]
    assert "the old secret stays good until" in out
    partner.refresh_from_db()
    assert partner.secrets() == [new.encode(), old]
    assert "old-secret-until=" in run("partners", "list")
    out = run("partners", "rotate-secret", partner.slug, "--overlap-hours", "0")
    assert "it is shredded now" in out  # the first old secret, still in its overlap
    assert "the old secret is shredded" in out
    partner.refresh_from_db()
    assert len(partner.secrets()) == 1 and partner.previous_secret_envelope is None
    with pytest.raises(CommandError, match="from 0 to 168"):
        run("partners", "rotate-secret", partner.slug, "--overlap-hours", "forever")
    with pytest.raises(CommandError, match="no partner"):
        run("partners", "rotate-secret", "nobody")


@pytest.mark.promise("P18")
def test_a_partner_without_agreements_is_added_but_told_it_gets_nothing():
    out = run(
        "partners",
        "add",
        "broker-c",
        "--name",
        "C",
        "--endpoint",
        "https://c.example.com",
        "--privacy-url",
        "https://c.example.com/p",
        "--countries",
        "NO",
    )
    assert "receives nothing" in out


@pytest.mark.parametrize("endpoint", ["http://broker.example.com", "ftp://x.example.com", "nope"])
def test_it_refuses_an_endpoint_that_is_not_https(endpoint):
    with pytest.raises(CommandError):
        run(
            "partners",
            "add",
            "bad",
            "--name",
            "Bad",
            "--endpoint",
            endpoint,
            "--privacy-url",
            "https://x.example.com/p",
            "--countries",
            "NO",
        )
    assert not Partner.objects.filter(slug="bad").exists()


def test_init_makes_private_keys_and_an_administrator_once(tmp_path):
    env = {**os.environ, "TILLIT_DATA_DIR": str(tmp_path / "data")}
    env.pop("DATABASE_URL", None)
    first = subprocess.run(
        [sys.executable, "-m", "tillit", "init", "--demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "made the administrator 'admin' with password" in first.stdout
    keys = tmp_path / "data" / "keys"
    for name in ("keyring.json", "secret_key"):
        assert (keys / name).stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "data" / "demo" / "partner" / "secret").stat().st_mode & 0o777 == 0o600
    again = subprocess.run(
        [sys.executable, "-m", "tillit", "init", "--demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "password" not in again.stdout
    check = subprocess.run(
        [sys.executable, "-m", "tillit", "check", "--system-only"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stderr


def test_without_init_every_command_says_what_to_do(tmp_path):
    env = {**os.environ, "TILLIT_DATA_DIR": str(tmp_path / "empty")}
    (tmp_path / "empty").mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "tillit", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "tillit.E001" in result.stderr and "tillit init" in result.stderr
