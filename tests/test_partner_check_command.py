"""`tillit partner-check` as an operator (or a partner) types it: its exit status, its report
as text and as JSON, its secrets from a file, the environment or the vault, and its refusals of
bad usage before anything is sent."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.conftest import make_partner
from tests.processes import ReferencePartner, free_port
from tillit.partners import conformance

pytestmark = [pytest.mark.promise("P18")]
QUICK = ["--check", "lead.new", "--check", "lead.repeat"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Iterator[ReferencePartner]:
    partner = ReferencePartner(tmp_path_factory.mktemp("partner")).start()
    try:
        yield partner
    finally:
        partner.stop()


@pytest.fixture
def secret_file(tmp_path, reference) -> Path:
    path = tmp_path / "secret"
    path.write_text(reference.secret + "\n")
    return path


def tillit(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tillit", "partner-check", *args],
        env={**os.environ, "TILLIT_CLI_LANGUAGE": "en", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.e2e
def test_a_partner_that_passes_exits_0(reference, secret_file):
    passed = tillit(reference.url, "--secret-file", str(secret_file), *QUICK)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "PASS  lead.new" in passed.stdout and "The partner passes." in passed.stdout


@pytest.mark.e2e
@pytest.mark.django_db
def test_a_partner_that_fails_exits_1_and_the_report_shows_no_secret(reference, monkeypatch):
    monkeypatch.setenv("TILLIT_PARTNER_SECRET", "not-the-partners-secret")
    status, out = command(reference.url, *QUICK)
    assert status == 1
    assert "FAIL  lead.new" in out and "HTTP 401" in out
    status, out = command(reference.url, *QUICK, "--json")
    assert status == 1 and json.loads(out)["passed"] is False
    assert "not-the-partners-secret" not in out


def test_a_dead_endpoint_fails_with_a_message_and_no_traceback(tmp_path):
    (tmp_path / "secret").write_text("a-secret-for-nobody\n")
    dead = f"http://127.0.0.1:{free_port()}"
    result = tillit(dead, "--secret-file", str(tmp_path / "secret"), "--wait", "1")
    assert result.returncode == 1
    assert "could not connect" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_bad_usage_exits_2_with_a_message_and_no_traceback():
    result = tillit("http://127.0.0.1:9", "--wait", "soon", TILLIT_PARTNER_SECRET="a-secret")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--wait: invalid float value: 'soon'" in result.stderr
    assert "Traceback" not in result.stderr


NOWHERE = "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ((), "give the partner's endpoint URL, or --partner SLUG"),
        (("ftp://127.0.0.1:9",), "not an http(s) URL"),
        ((NOWHERE, "--listen", "nowhere"), "--listen must be HOST:PORT"),
        ((NOWHERE, "--check", "lead.nope"), "no such check: lead.nope"),
        ((NOWHERE, "--wait", "-1"), "--wait must be 0 seconds or more"),
        ((NOWHERE, "--callback-url", "mailto:x@example.com"), "--callback-url must be"),
    ],
)
@pytest.mark.django_db
def test_bad_usage_is_refused_before_anything_is_sent(args, says, monkeypatch):
    monkeypatch.setenv("TILLIT_PARTNER_SECRET", "a-secret")
    status, said = command(*args)
    assert status == 2 and says in said


def test_without_a_secret_nothing_is_sent(monkeypatch):
    monkeypatch.delenv("TILLIT_PARTNER_SECRET", raising=False)
    status, said = command(NOWHERE)
    assert status == 2 and "no shared secret: --secret-file F, or TILLIT_PARTNER_SECRET" in said


def command(*args: str) -> tuple[int, str]:
    """Run the command in this process (where the test database is); its exit status and
    what it printed."""
    out = StringIO()
    try:
        call_command("partner_check", *args, stdout=out)
    except SystemExit as exit:
        return int(exit.code or 0), out.getvalue()
    except CommandError as error:
        return error.returncode, str(error)
    return 0, out.getvalue()


@pytest.mark.e2e
@pytest.mark.django_db
def test_a_registered_partner_is_checked_with_the_secrets_of_the_vault(reference):
    make_partner(slug="megler", endpoint=reference.url, secret=reference.secret)
    status, out = command("--partner", "megler", *QUICK)
    assert status == 0, out
    assert f"Partner check of {reference.url}" in out


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_registered_partners_full_report_is_kept_and_lets_it_go_live(reference):
    """The sandbox's way in: a partner in testing, the whole suite run against it with
    --partner, its report kept, and then it may go live. A run of some checks is not kept."""
    from django.utils import translation

    from tillit.partners import sandbox
    from tillit.partners.models import PartnerCheck

    partner = make_partner(
        slug="sandboxed", endpoint=reference.url, secret=reference.secret, testing=True
    )
    assert command("--partner", "sandboxed", *QUICK)[0] == 0
    assert not PartnerCheck.objects.exists()
    with translation.override("en"):
        assert sandbox.go_live_blockers(partner)[0].startswith("There is no conformance report")
    status, out = command("--partner", "sandboxed")
    assert status == 0, out
    kept = PartnerCheck.objects.get(partner=partner)
    assert kept.passed and kept.endpoint == reference.url
    assert kept.report["results"][0]["id"] == "endpoint"
    assert sandbox.go_live(partner, "test")
    partner.refresh_from_db()
    assert not partner.testing and partner.active


@pytest.mark.django_db
def test_an_unknown_partner_or_a_second_source_of_secrets_is_bad_usage(tmp_path):
    make_partner(slug="megler")
    assert command("--partner", "nobody") == (2, "no partner 'nobody'")
    status, said = command("--partner", "megler", "--secret-file", str(tmp_path / "s"))
    assert status == 2 and "from the vault" in said


@pytest.mark.django_db
def test_the_json_is_the_reports_as_dict(monkeypatch, tmp_path):
    """`--json` prints as_dict() of the report the suite made, and nothing else."""
    made: list[conformance.Report] = []
    real = conformance.run

    def run(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(conformance, "run", run)
    (tmp_path / "secret").write_text("one\ntwo\n")
    status, out = command(
        "https://partner.example.com", "--secret-file", str(tmp_path / "secret"), "--json",
        "--check", "endpoint",
    )  # fmt: skip
    assert status == 0
    assert json.loads(out) == json.loads(json.dumps(made[0].as_dict()))
    assert [r["id"] for r in json.loads(out)["results"]] == ["endpoint", "cleanup"]
    assert set(json.loads(out)) == {
        "report_version", "endpoint", "started_at", "finished_at", "passed", "counts", "results",
    }  # fmt: skip


def test_more_than_two_secrets_is_bad_usage(tmp_path):
    (tmp_path / "secret").write_text("one\ntwo\nthree\n")
    status, said = command("https://partner.example.com", "--secret-file", str(tmp_path / "secret"))
    assert status == 2 and "at most two" in said


@pytest.mark.django_db
def test_a_port_it_cannot_listen_on_is_bad_usage(monkeypatch):
    monkeypatch.setenv("TILLIT_PARTNER_SECRET", "a-secret")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status, said = command(NOWHERE, "--listen", f"127.0.0.1:{port}")
    assert status == 2 and f"cannot listen for callbacks on 127.0.0.1:{port}" in said
