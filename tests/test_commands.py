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
        "--live",
    )
    partner = Partner.objects.get(slug="broker-b")
    secret = out.split("signing secret (shown once; give it to the partner): ")[1].split()[0]
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
def test_a_partner_is_added_in_testing_and_live_only_with_its_agreements():
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
    assert "it is in testing" in out
    assert Partner.objects.get(slug="broker-c").testing
    with pytest.raises(CommandError, match="--live needs --dpa-signed-on"):
        run("partners", "add", "broker-d", "--name", "D", "--endpoint", "https://d.example.com",
            "--privacy-url", "https://d.example.com/p", "--countries", "NO", "--live")  # fmt: skip
    assert not Partner.objects.filter(slug="broker-d").exists()


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


def add_testing(slug: str = "sandboxed") -> str:
    return run(
        "partners",
        "add",
        slug,
        "--name",
        "Sandboxed AS",
        "--endpoint",
        "https://sandboxed.example.com/tillit/",
        "--privacy-url",
        "https://sandboxed.example.com/privacy",
        "--countries",
        "NO",
        "--dpa-signed-on",
        "2026-01-01",
        "--compliance-attested-on",
        "2026-01-02",
    )


@pytest.mark.promise("P18")
def test_a_partner_added_for_testing_goes_live_only_after_a_passed_report():
    from tests.conftest import make_report
    from tillit.audit.models import AuditEvent
    from tillit.partners import sandbox

    assert "it is in testing" in add_testing()
    partner = Partner.objects.get(slug="sandboxed")
    assert partner.testing and not Partner.objects.compliant().exists()
    [line] = run("partners", "list").splitlines()
    assert line.split()[1] == "testing" and line.endswith(" check=-")
    with pytest.raises(CommandError) as refused:
        run("partners", "go-live", "sandboxed")
    assert str(refused.value).splitlines() == [
        "sandboxed stays in testing:",
        "- There is no conformance report yet: run the conformance suite against the partner.",
    ]
    sandbox.record(partner, make_report("https://sandboxed.example.com/tillit", "lead-signature"))
    with pytest.raises(CommandError, match="failed these checks: lead-signature"):
        run("partners", "go-live", "sandboxed")
    assert "check=failed@" in run("partners", "list")
    sandbox.record(partner, make_report("https://sandboxed.example.com/tillit"))
    assert "check=passed@" in run("partners", "list")
    assert run("partners", "go-live", "sandboxed") == "sandboxed is live: it receives leads\n"
    assert Partner.objects.compliant().get() == partner
    assert run("partners", "list").split()[1] == "live"
    assert "is live already" in run("partners", "go-live", "sandboxed")
    said = run("partners", "testing", "sandboxed")
    assert said == "sandboxed is in testing: nobody new is assigned to it\n"
    assert not Partner.objects.compliant().exists()
    assert "receives no leads until it goes live" in run("partners", "enable", "sandboxed")
    events = AuditEvent.objects.filter(target="partner:sandboxed").order_by("seq")
    assert [(e.action, e.actor) for e in events] == [
        ("partner.added", "cli"),
        ("partner.conformance_checked", "cli"),
        ("partner.conformance_checked", "cli"),
        ("partner.went_live", "cli"),
        ("partner.to_testing", "cli"),
        # Enabling a partner that is enabled changes nothing and records nothing (PARTNER).
    ]
    assert events[0].data == {"testing": True}
    with pytest.raises(CommandError, match="no partner 'nobody'"):
        run("partners", "go-live", "nobody")


@pytest.mark.promise("P18")
def test_a_partner_added_live_skips_the_sandbox_and_the_audit_log_says_so():
    from tillit.audit.models import AuditEvent

    out = run(
        "partners", "add", "broker-b", "--name", "Broker B", "--endpoint",
        "https://broker-b.example.com", "--privacy-url", "https://broker-b.example.com/p",
        "--countries", "NO", "--dpa-signed-on", "2026-01-01",
        "--compliance-attested-on", "2026-01-01", "--live",
    )  # fmt: skip
    assert "live at once, without a conformance report" in out
    assert Partner.objects.compliant().get().slug == "broker-b"
    assert run("partners", "list").split()[1] == "live"
    added = AuditEvent.objects.get(action="partner.added")
    assert added.data == {"testing": False, "unchecked": True}


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


# The command's language: chosen by cli.py before the command runs, so these run it as a person
# does, in a process of its own.


def tillit(*args, env, check=True):
    return subprocess.run(
        [sys.executable, "-m", "tillit", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=check,
    )


@pytest.fixture(scope="module")
def shell(tmp_path_factory):
    """The environment of a shell with a data directory made by `tillit init`, and neither a
    language chosen nor a locale."""
    unset = ("TILLIT_CLI_LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE", "DATABASE_URL")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env["TILLIT_DATA_DIR"] = str(tmp_path_factory.mktemp("cli") / "data")
    tillit("init", env={**env, "TILLIT_CLI_LANGUAGE": "en"})
    return env


@pytest.mark.promise("P10")
@pytest.mark.parametrize("chosen", [{"TILLIT_CLI_LANGUAGE": "nb"}, {"LANG": "nb_NO.UTF-8"}])
def test_the_command_speaks_bokmal_when_asked_or_when_the_shell_does(shell, chosen):
    env = {**shell, **chosen}
    assert tillit("staff", "list", env=env).stdout.split() == [
        "admin",
        "aktiv",
        "administrator",
        "innrullert",
    ]
    refused = tillit("staff", "role", "nobody", "support", env=env, check=False)
    assert refused.returncode == 1 and "ingen ansatt 'nobody'" in refused.stderr
    assert tillit("help", env=env).stdout.startswith("bruk: tillit KOMMANDO [valg]\n")


@pytest.mark.promise("P10")
@pytest.mark.parametrize("chosen", [{}, {"TILLIT_CLI_LANGUAGE": "en"}])
def test_the_command_speaks_english_by_default_and_when_asked(shell, chosen):
    env = {**shell, **chosen}
    assert tillit("staff", "list", env=env).stdout.split() == [
        "admin",
        "active",
        "administrator",
        "enrolled",
    ]
    refused = tillit("staff", "role", "nobody", "support", env=env, check=False)
    assert refused.returncode == 1 and "no staff member 'nobody'" in refused.stderr
    assert tillit("help", env=env).stdout.startswith("usage: tillit COMMAND [options]\n")


@pytest.mark.promise("P10")
@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"TILLIT_CLI_LANGUAGE": "en", "LANG": "nb_NO.UTF-8"}, "en"),
        ({"TILLIT_CLI_LANGUAGE": "NB", "LANG": "C.UTF-8"}, "nb"),
        ({"LANG": "no_NO.UTF-8"}, "nb"),
        ({"LANG": "nn_NO.UTF-8"}, "nb"),
        ({"LANG": "nb_NO.UTF-8", "LC_ALL": "C.UTF-8"}, "en"),  # LC_ALL decides first
        ({"LANG": "en_GB.UTF-8", "LC_MESSAGES": "nb_NO.UTF-8"}, "nb"),
        ({"LANG": "", "LC_ALL": "", "LC_MESSAGES": "nb_NO"}, "nb"),  # empty is unset
        ({"LANG": "de_DE.UTF-8"}, "en"),
        ({}, "en"),
    ],
)
def test_the_language_is_chosen_as_unix_programs_choose_theirs(monkeypatch, environ, expected):
    from tillit.cli import language

    for name in ("TILLIT_CLI_LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert language() == expected


def test_a_language_it_does_not_speak_stops_it_with_the_variable_named(shell):
    refused = tillit("staff", "list", env={**shell, "TILLIT_CLI_LANGUAGE": "de"}, check=False)
    assert refused.returncode != 0
    assert "TILLIT_CLI_LANGUAGE must be nb or en, not 'de'" in refused.stderr


@pytest.mark.promise("P10")
@pytest.mark.parametrize("lang", ["nb", "en"])
def test_the_usage_keeps_its_columns_in_both_languages(lang):
    from django.utils import translation

    from tillit.cli import COMMANDS, SYNOPSIS_WIDTH, usage

    column = 2 + SYNOPSIS_WIDTH + 1
    synopses = {synopsis for synopsis, _does in COMMANDS}
    with translation.override(lang):
        lines = usage().splitlines()[2:-2]
    for line in lines:
        if line.startswith(" " * column):
            assert line[column] != " ", line
            continue
        if line[2:] in synopses:  # too long for its column: the description is under it
            continue
        assert line[2:column].rstrip() in synopses, line
        assert line[column - 1] == " " != line[column], line
    assert len(lines) >= len(COMMANDS)


@pytest.mark.promise("P18")
def test_go_live_from_a_shell_prints_the_blockers_and_exits_1(shell):
    env = {**shell, "TILLIT_CLI_LANGUAGE": "en"}
    tillit(
        "partners", "add", "sandboxed-shell", "--name", "S", "--endpoint",
        "https://s.example.com", "--privacy-url", "https://s.example.com/p", "--countries", "NO",
        env=env,
    )  # fmt: skip
    refused = tillit("partners", "go-live", "sandboxed-shell", env=env, check=False)
    assert refused.returncode == 1
    assert "- There is no conformance report yet" in refused.stderr
    assert "- No data processing agreement is on record" in refused.stderr


def test_log_witness_add_list_remove_from_a_shell(shell):
    """`tillit log witness` as a person types it (it failed on its own positional arguments,
    which Django's call_command in the other tests passes another way)."""
    from tillit_partner import note

    env = {**shell, "TILLIT_CLI_LANGUAGE": "en"}
    vkey = note.Cosigner.generate("witness.cli.example").vkey
    assert "witness.cli.example" not in tillit("log", "witness", "list", env=env).stdout
    tillit("log", "witness", "add", "witness.cli.example", "https://w.example.com", vkey, env=env)
    assert "witness.cli.example" in tillit("log", "witness", "list", env=env).stdout
    tillit("log", "witness", "remove", "witness.cli.example", env=env)
    # Kept, marked removed: its cosignatures stay part of the log's history.
    [line] = [x for x in tillit("log", "witness", "list", env=env).stdout.splitlines() if x]
    assert line.split()[:3] == ["witness.cli.example", "https://w.example.com", "removed"]


@pytest.mark.e2e
def test_the_reference_partner_starts_with_a_data_directory_not_yet_made(tmp_path):
    """Its database lives in the directory, which Django's checks open before the command."""
    from tests.processes import ReferencePartner

    data_dir = tmp_path / "not" / "yet"
    partner = ReferencePartner(data_dir)
    partner.data_dir = tmp_path / "elsewhere"  # start() makes this one; the partner is told
    partner.extra_env["PARTNER_DATA_DIR"] = str(data_dir)  # the other, which nobody made
    try:
        partner.start()
        assert (data_dir / "partner.sqlite3").exists()
        assert data_dir.stat().st_mode & 0o777 == 0o700
    finally:
        partner.stop()
