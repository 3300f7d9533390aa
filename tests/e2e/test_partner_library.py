"""A partner of its own, built on the partner library as docs/partners.md says: a Starlette app
with the library's ASGI adapter under a base path, served by granian as a separate process.
The conformance suite, over real HTTP, finds it keeps the protocol."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import free_port, stop, wait_for
from tillit.partners import conformance

pytestmark = [pytest.mark.e2e, pytest.mark.promise("P17"), pytest.mark.promise("P24")]
EXAMPLES = Path(__file__).parents[2] / "partner" / "examples"


@pytest.fixture(scope="module")
def starlette_partner(tmp_path_factory) -> Iterator[tuple[str, str]]:
    secret, port = secrets.token_urlsafe(32), free_port()
    log = open(tmp_path_factory.mktemp("asgi") / "partner.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1", "starlette_partner:app"],
        cwd=EXAMPLES,
        env={**os.environ, "TILLIT_SECRET": secret, "PYTHONPATH": str(EXAMPLES)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}/broker/tillit"
    try:
        wait_for(endpoint + "/healthz", proc)
        yield endpoint, secret
    finally:
        stop(proc)
        log.close()


@pytest.mark.promise("P25")
@pytest.mark.promise("P29")
@pytest.mark.promise("P31")
def test_a_starlette_partner_on_the_library_passes_the_conformance_suite(starlette_partner):
    endpoint, secret = starlette_partner
    report = conformance.run(endpoint, [secret.encode()], wait_seconds=10)
    assert report.passed, report.text()
    outcomes = {result.id: result.outcome for result in report.results}
    skipped = {check for check, outcome in outcomes.items() if outcome != conformance.PASS}
    # It acts at once (nothing stays pending to cancel) and witnesses no log.
    assert skipped == {"rights.cancel_pending", "witness.cosign", "witness.bad_signature",
                       "witness.wrong_old"}, report.text()  # fmt: skip
    assert outcomes["rights.callback"] == conformance.PASS
    assert len([o for o in outcomes.values() if o == conformance.PASS]) >= 25
