"""`tillit scan` against running sites: it passes the demo site as shipped, and fails with a
clear table on an undeclared cookie, a cookie set before consent and an undeclared host."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import CHROMIUM, Operator, throwaway_database
from tests.e2e.standins import MEASUREMENT_ID, StandIn
from tests.processes import free_port, stop, tillit, wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.timeout(240),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}"),
]

SHIPPED = Path(__file__).resolve().parents[2] / "src" / "tillit" / "operator.toml"


def scan(site: Operator) -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, "-m", "tillit", "scan", site.url],
        env=site.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result.returncode, result.stdout + result.stderr


def row(output: str, state: str, name: str) -> str:
    found = [line for line in output.splitlines() if line.startswith(state) and f" {name} " in line]
    assert found, f"no {state!r} row for {name!r} in:\n{output}"
    return found[0]


@pytest.fixture
def site(tmp_path):
    """`make_site(datamap_text, **env)`: a running `tillit web` with that data map."""
    sites: list[Operator] = []
    databases = []

    def make(text: str, **env: str) -> Operator:
        datamap_file = tmp_path / f"operator-{len(sites)}.toml"
        datamap_file.write_text(text)
        database = throwaway_database()
        url = database.__enter__()
        databases.append(database)
        operator = Operator(
            tmp_path / f"site-{len(sites)}",
            url,
            None,
            {"TILLIT_OPERATOR_FILE": str(datamap_file), **env},
        )
        sites.append(operator)
        operator.init()
        operator.start_web()
        return operator

    yield make
    for operator in sites:
        operator.stop_all()
    for database in databases:
        database.__exit__(None, None, None)


@pytest.mark.promise("P13")
@pytest.mark.promise("P14")
def test_the_demo_site_passes(tmp_path):
    """`tillit run --demo` as `make run` starts it (site, worker, reference partner), then
    `tillit scan` against it."""
    with throwaway_database() as url:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TILLIT_", "DJANGO_")) and k != "DATABASE_URL"
        }
        env |= {"TILLIT_DATA_DIR": str(tmp_path / "data"), "TILLIT_DEMO": "true"}
        if url:
            env["DATABASE_URL"] = url
        port = free_port()
        demo = tillit("run", "--demo", "--port", str(port), env=env, log=tmp_path / "run.log")
        try:
            wait_for(f"http://127.0.0.1:{port}/healthz", demo, timeout=120)
            result = subprocess.run(
                [sys.executable, "-m", "tillit", "scan", f"http://127.0.0.1:{port}"],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            proven = subprocess.run(
                [sys.executable, "-m", "tillit", "check", "--url", f"http://127.0.0.1:{port}"],
                env=env,
                capture_output=True,
                text=True,
                timeout=180,
            )
        finally:
            stop(demo)
    # `tillit check` proves the whole policy of the demo as shipped (the cookie scan, purposes,
    # partners' agreements, a test for every promise).
    assert proven.returncode == 0, proven.stdout + proven.stderr
    assert "the policy is proven true of this system" in proven.stdout
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "OK:" in output
    for state in ("no choice", "reject all", "accept all"):
        assert row(output, state, "csrftoken").endswith("ok")
    assert row(output, "accept all", "tillit_consent").endswith("ok")


@pytest.mark.promise("P13")
@pytest.mark.promise("P34")
def test_an_undeclared_cookie_fails_the_scan_and_the_check(site):
    text = SHIPPED.read_text()
    start = text.index('[[cookies]]\nname = "csrftoken"')
    end = text.index("[[cookies]]", start + 1)
    running = site(text[:start] + text[end:])
    code, output = scan(running)
    assert code == 1
    assert row(output, "no choice", "csrftoken").endswith("UNDECLARED")
    assert "FAIL:" in output
    checked = subprocess.run(
        [sys.executable, "-m", "tillit", "check", "--url", running.url],
        env=running.env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert checked.returncode == 1
    assert "the policy is not proven" in checked.stdout
    assert re.search(r"scan \(no choice\): cookie csrftoken .*UNDECLARED", checked.stdout)


@pytest.mark.promise("P13")
def test_a_cookie_set_before_consent_fails_the_scan(site):
    text = SHIPPED.read_text().replace(
        'name = "csrftoken"\nprovider = "operator"\ncategory = "essential"',
        'name = "csrftoken"\nprovider = "operator"\ncategory = "analytics"',
    )
    code, output = scan(site(text))
    assert code == 1
    assert row(output, "no choice", "csrftoken").endswith("BEFORE CONSENT")
    assert row(output, "accept all", "csrftoken").endswith("ok")


@pytest.mark.promise("P14")
@pytest.mark.promise("P6")
def test_google_analytics_passes_when_declared_and_fails_when_not(site):
    google = StandIn()
    try:
        env = {
            "TILLIT_GA_MEASUREMENT_ID": MEASUREMENT_ID,
            "TILLIT_GA_TAG_URL": f"{google.origin}/gtag/js",
        }
        # A table of its own at the end: it needs no anchor in the shipped file.
        declared = SHIPPED.read_text() + (
            f'\n[[third_parties]]\nhost = "127.0.0.1:{google.port}"\nprovider = "Google (stand-in)"'
            '\ncategory = "analytics"\n'
        )
        code, output = scan(site(declared, **env))
        assert code == 0, output
        assert row(output, "accept all", f"127.0.0.1:{google.port}").endswith("ok")
        assert row(output, "accept all", "_ga").endswith("ok")
        assert f"127.0.0.1:{google.port}" not in "".join(
            line for line in output.splitlines() if line.startswith(("no choice", "reject all"))
        )
        code, output = scan(site(SHIPPED.read_text(), **env))
        assert code == 1
        assert row(output, "accept all", f"127.0.0.1:{google.port}").endswith("UNDECLARED")
    finally:
        google.close()
