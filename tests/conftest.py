"""The test cast and the environment every test runs in.

The data directory (keys, SQLite files) is a fresh temporary directory per run, set before
Django's settings load. DATABASE_URL, when set, moves the database to PostgreSQL. The `tillit`
command speaks English in every test, whatever the shell's locale.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import django.core.management as management
import pytest

from tests.environment import DATA_DIR  # noqa: E402,F401  (loaded first, as a plugin)

# The tests read what commands print in English; a machine with a Norwegian locale, or a shell
# that chose nb, would otherwise change it (tillit/cli.py). Processes the tests start inherit it.
os.environ["TILLIT_CLI_LANGUAGE"] = "en"


def _call_command_as_tillit_does(command_name: Any, *args: Any, **options: Any) -> Any:
    """`tillit` makes its language the active one before a command parses its arguments and
    runs (tillit/cli.py). call_command runs one in the test's process instead, where the last
    request's language is still active, or none (then LANGUAGE_CODE's, nb): so it too runs every
    command but the services in the command's language, as `tillit` would."""
    from django.utils import translation

    from tillit.cli import SERVICES, language

    name = command_name if isinstance(command_name, str) else type(command_name).__module__
    if name.rsplit(".", 1)[-1] in (*SERVICES, "serve_partner"):
        return _call_command(command_name, *args, **options)
    with translation.override(language()):
        return _call_command(command_name, *args, **options)


# Before the test modules import it.
_call_command = management.call_command
management.call_command = _call_command_as_tillit_does

# Canary values: planted by the tests that prove nothing readable stays at rest.
CANARY_NAME = "Kanarifugl Åsmundsdóttir"
CANARY_EMAIL = "kanari.canary-7f3a@example.com"
CANARY_PHONE = "+47 912 34 567"


@pytest.fixture
def visitor() -> dict[str, str]:
    """A person filling in the sign-up form, as the form's fields."""
    return {
        "name": "Kari Nordmann",
        "email": "kari@example.com",
        "phone": "912 34 567",
        "country": "NO",
        "consent_partner": "on",
        "consent_offers": "on",
    }


def make_partner(**kwargs: Any) -> Any:
    from tillit.partners.models import Partner

    today = dt.date(2026, 1, 1)
    kwargs.setdefault("slug", "broker-a")
    kwargs.setdefault("name", "Broker A")
    kwargs.setdefault("endpoint", "http://127.0.0.1:9")
    kwargs.setdefault("privacy_policy_url", "https://broker-a.example.com/privacy")
    kwargs.setdefault("countries", ["NO", "SE"])
    kwargs.setdefault("dpa_signed_on", today)
    kwargs.setdefault("compliance_attested_on", today)
    secret = kwargs.pop("secret", "shared-secret-for-tests")
    partner = Partner.objects.create(**kwargs)
    partner.set_secret(secret)
    return partner


def make_report(endpoint: str = "http://127.0.0.1:9", *failing: str) -> dict[str, Any]:
    """A conformance report as the suite's Report.as_dict() gives it: the checks named in
    `failing` failed, the rest passed, one was skipped."""
    results = [
        {
            "id": check,
            "title": f"The {check} check",
            "outcome": "fail" if check in failing else "pass",
            "sent": {"method": "POST", "path": "/leads", "body": {"name": "Test Person"}},
            "received": {"status": 500} if check in failing else {"status": 201},
            "required": "201 with a signed receipt",
        }
        for check in ("lead-accepted", "lead-repeat", *failing)
    ]
    results.append(
        {"id": "opendsr", "title": "The rights API", "outcome": "skip", "sent": None,
         "received": None, "required": "a rights API, when the partner has one"}
    )  # fmt: skip
    return {"passed": not failing, "endpoint": endpoint, "results": results}


@pytest.fixture
def partner(db: None) -> Any:
    """A compliant partner serving Norway and Sweden (nothing listens at its endpoint)."""
    return make_partner()


STAFF_PASSWORD = "correct horse battery"


def make_staff(username: str, role: str) -> Any:
    """A staff member in one role, with a password and an authenticator, as `tillit staff
    add` makes them."""
    from django.contrib.auth import get_user_model

    from tillit.console import staff

    staff.create(username, role, password=STAFF_PASSWORD)
    return get_user_model().objects.get(username=username)


def sign_in(client: Any, user: Any) -> Any:
    """Sign in through the console's real form: password, then the authenticator's code."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tillit.console import staff

    # An authenticator code is accepted once; a test may sign in more than once in 30 s.
    TOTPDevice.objects.filter(user=user).update(last_t=-1)
    answer = client.post(
        "/console/login/",
        {
            "username": user.username,
            "password": STAFF_PASSWORD,
            "otp_token": staff.current_code(user),
            "next": "/console/",
        },
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    return answer


@pytest.fixture
def administrator(db: None) -> Any:
    return make_staff("admin", "administrator")


@pytest.fixture
def privacy_officer(db: None) -> Any:
    return make_staff("personvern", "privacy_officer")


@pytest.fixture
def support(db: None) -> Any:
    return make_staff("kundeservice", "support")


@pytest.fixture(scope="session")
def partner_data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="tillit-partner-"))
    yield path


@pytest.fixture(scope="session")
def django_db_modify_db_settings_xdist_suffix(request: pytest.FixtureRequest) -> None:
    """Under pytest-xdist, each worker's PostgreSQL test database gets the worker's suffix
    (`test_test_gw0`). SQLite needs none: each worker process has its own data directory, and
    pytest-django would otherwise turn our SQLite file name into an impossible path."""
    from django.conf import settings

    worker = getattr(request.config, "workerinput", {}).get("workerid")
    for db_settings in settings.DATABASES.values():
        if worker and db_settings["ENGINE"] == "tillit.core.postgresql":
            test = db_settings.setdefault("TEST", {})
            test["NAME"] = f"{test.get('NAME') or 'test_' + db_settings['NAME']}_{worker}"


_PROMISES: dict[str, list[str]] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep a report of which test proves which promise (see tests/promises.py). The promises
    ride on each test's reports, so the report is whole under pytest-xdist too."""
    for item in items:
        # schemathesis names each API operation's test `test_x[POST /leads]`, but pytest 9
        # builds the node id from the bare name, so all of them share one; pytest-xdist, which
        # schedules by node id, would then run only one.
        if item.name.startswith(item.nodeid.rpartition("::")[2] + "[") and "[" not in item.nodeid:
            from _pytest.nodeid import NodeId  # pytest 9's own (private); pinned in pyproject

            item._id = NodeId.parse(f"{item.nodeid}{item.name[len(item.originalname) :]}")
        item.user_properties.append(("promises", [m.args[0] for m in item.iter_markers("promise")]))


_MACHINES: list[dict[str, Any]] = []  # what each state machine explored (tests/machines.py)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for name, value in report.user_properties:
        if name == "promises":
            _PROMISES[report.nodeid] = list(value)
        if name == "machine" and report.when == "call":
            _MACHINES.append(value)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    from tests import machines
    from tests.promises import summary

    if _PROMISES:
        terminalreporter.write_line(summary(_PROMISES))
    if _MACHINES:
        terminalreporter.write_line(machines.summary(_MACHINES))


@pytest.fixture
def client() -> Any:
    """Django's test client, with the worker's sign-up step after each POST (tests/visitors.py)."""
    from tests.visitors import WorkerClient

    return WorkerClient()


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Rate-limit counters live in the cache, partners' embeds, the countries partners serve
    and the policy's version in short memos; each test starts with none of them."""
    from django.core.cache import cache

    from tillit.consent.cookies import forget_embeds
    from tillit.partners.routing import forget_open
    from tillit.policy.versions import forget_label

    cache.clear()
    forget_embeds()
    forget_label()
    forget_open()
    yield
