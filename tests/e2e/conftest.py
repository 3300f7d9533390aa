"""End-to-end fixtures: an operator's own tillit (data directory, database, `tillit web`,
`tillit worker`, the commands), the reference partner and a real SMTP server, each a separate
process or server on 127.0.0.1.

Every test gets a fresh TILLIT_DATA_DIR and, when the run is on PostgreSQL (DATABASE_URL set),
a throwaway database of its own. The pytest session's own data directory and database (which
the in-process Django uses) are not touched. Tests read the processes' database directly, with
sqlite3 or psycopg, never through the in-process ORM.
"""

from __future__ import annotations

import email
import email.policy
import logging
import os
import re
import secrets
import sqlite3
import subprocess
import sys
import threading
import time
from base64 import b32decode
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django_otp.oath import totp

from tests.processes import ReferencePartner, free_port, stop, tillit, wait_for
from tillit.consent import scan

ON_POSTGRES = bool(os.environ.get("DATABASE_URL"))
# aiosmtpd logs every SMTP command at INFO; a failing test's report has no use for them.
logging.getLogger("mail.log").setLevel(logging.WARNING)
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, "the page has no CSRF token in a form"
    return match.group(1)


def until(check: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    """Poll `check` until it returns something truthy; fail saying `what` did not happen."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f}s")
        time.sleep(every)


# --- E-mail: a real SMTP server ------------------------------------------------------------


@dataclass
class Mail:
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def text(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None, "the e-mail has no text part"
        return str(part.get_content())

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def link(self, pattern: str) -> str:
        match = re.search(pattern, self.text)
        assert match, f"no link matching {pattern!r} in the e-mail:\n{self.text}"
        return match.group(0)


class Inbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[Mail] = []
        self.port = 0
        self._changed = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._changed:
            self.messages.append(Mail(list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
            self._changed.notify_all()
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Mail]:
        with self._changed:
            return [m for m in self.messages if address in m.rcpt_tos]

    def wait_for(self, address: str, timeout: float = 30) -> Mail:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [m for m in self.messages if address in m.rcpt_tos]
                if found:
                    return found[-1]
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [m.rcpt_tos for m in self.messages]
                    raise AssertionError(f"no e-mail to {address} within {timeout}s (got {seen})")
                self._changed.wait(left)


@contextmanager
def serving(inbox: Inbox) -> Iterator[Inbox]:
    """A real SMTP server (aiosmtpd) on a free port of 127.0.0.1, delivering into `inbox`."""
    from aiosmtpd.controller import Controller

    inbox.port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def smtp() -> Iterator[Inbox]:
    with serving(Inbox()) as inbox:
        yield inbox


# --- The processes' database ---------------------------------------------------------------


def _server_conninfo() -> str:
    """The PostgreSQL server of DATABASE_URL, with its maintenance database."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(os.environ["DATABASE_URL"])
    params["dbname"] = "postgres"
    return make_conninfo(**params)


@contextmanager
def throwaway_database() -> Iterator[str | None]:
    """None on SQLite (the database is a file in the data directory); on PostgreSQL, the URL
    of a database made for this use alone, dropped afterwards."""
    if not ON_POSTGRES:
        yield None
        return
    import psycopg
    from psycopg import sql

    name = f"tillit_e2e_{secrets.token_hex(6)}"
    with psycopg.connect(_server_conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlsplit(os.environ["DATABASE_URL"])._replace(path="/" + name).geturl()
    finally:
        with psycopg.connect(_server_conninfo(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def database_url() -> Iterator[str | None]:
    with throwaway_database() as url:
        yield url


class OperatorDB:
    """Direct access to the database the processes use. SQL is written with %s placeholders."""

    def __init__(self, sqlite_path: Path, url: str | None) -> None:
        self.sqlite_path = sqlite_path
        self.url = url

    @contextmanager
    def connect(self) -> Iterator[Any]:
        if self.url:
            import psycopg

            conn: Any = psycopg.connect(self.url, autocommit=True)
        else:
            conn = sqlite3.connect(self.sqlite_path, timeout=30, isolation_level=None)
            # As tillit's own connections do: a page this connection frees is overwritten.
            conn.execute("PRAGMA secure_delete=ON")
            conn.execute("PRAGMA busy_timeout=30000")
        try:
            yield conn
        finally:
            conn.close()

    def _sql(self, query: str) -> str:
        return query if self.url else query.replace("%s", "?")

    def rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with self.connect() as conn:
            return list(conn.execute(self._sql(query), params).fetchall())

    def scalar(self, query: str, *params: Any) -> Any:
        rows = self.rows(query, *params)
        return rows[0][0] if rows else None

    def execute(self, query: str, *params: Any) -> int:
        with self.connect() as conn:
            return int(conn.execute(self._sql(query), params).rowcount)

    def ts(self, when: datetime) -> Any:
        """A timestamp as Django stores it: aware on PostgreSQL, naive UTC text on SQLite."""
        if self.url:
            return when
        return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    def tables(self) -> list[str]:
        if self.url:
            return [
                r[0]
                for r in self.rows(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
                )
            ]
        return [
            r[0]
            for r in self.rows("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1")
        ]

    def states(self) -> dict[str, int]:
        """How many deliveries are in each state."""
        return dict(self.rows("SELECT state, COUNT(*) FROM partners_delivery GROUP BY state"))


# --- An operator's installation ------------------------------------------------------------


class Operator:
    """One operator's tillit: its data directory, database, processes and their logs."""

    def __init__(
        self, root: Path, database_url: str | None, smtp_port: int | None, extra_env: dict[str, str]
    ) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("TILLIT_DEMO", "DATABASE_URL", "TILLIT_OPERATOR_FILE")
        }
        env.update(
            {
                "TILLIT_DATA_DIR": str(self.data_dir),
                "TILLIT_SITE_URL": self.url,
                "TILLIT_SIGNUPS_PER_IP_PER_HOUR": "100000",
                "TILLIT_WEB_WORKERS": "1",
                "TILLIT_LOG_LEVEL": "INFO",
                "TILLIT_SMTP_HOST": "127.0.0.1",
                # Without a test SMTP server, a port where nothing listens: never a real MTA.
                "TILLIT_SMTP_PORT": str(smtp_port or free_port()),
            }
        )
        if database_url:
            env["DATABASE_URL"] = database_url
        env.update(extra_env)
        self.env = env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.db = OperatorDB(self.data_dir / "tillit.sqlite3", database_url)

    def command(self, *args: str, timeout: float = 90, env: dict[str, str] | None = None) -> str:
        """Run `tillit <args>` to completion; its output goes to logs/commands.log too."""
        result = subprocess.run(
            [sys.executable, "-m", "tillit", *args],
            env=env or self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        with open(self.logs / "commands.log", "a") as log:
            log.write(f"$ tillit {' '.join(args)}\n{result.stdout}{result.stderr}")
        if result.returncode != 0:
            raise AssertionError(
                f"tillit {' '.join(args)} exited with {result.returncode}:\n"
                f"{result.stdout}{result.stderr}"
            )
        return result.stdout

    def init(self) -> None:
        self.command("init")

    def add_partner(
        self,
        slug: str,
        *,
        name: str,
        endpoint: str,
        privacy_url: str,
        countries: str,
        secret: str,
        embed_url: str = "",
        options: tuple[str, ...] = (),
    ) -> None:
        secret_file = self.root / "secrets" / slug
        secret_file.parent.mkdir(mode=0o700, exist_ok=True)
        secret_file.write_text(secret)
        secret_file.chmod(0o600)
        self.command(
            "partners",
            "add",
            slug,
            "--name",
            name,
            "--endpoint",
            endpoint,
            "--privacy-url",
            privacy_url,
            "--countries",
            countries,
            "--dpa-signed-on",
            "2026-01-01",
            "--compliance-attested-on",
            "2026-01-01",
            "--secret-file",
            str(secret_file),
            # A known partner, set up as a script would: live at once (the sandbox and the
            # conformance suite have tests of their own).
            "--live",
            *(["--embed-url", embed_url] if embed_url else []),
            *options,
        )

    def add_reference_partner(
        self, reference: ReferencePartner, slug: str = "megler", **extra: str
    ) -> None:
        """The reference partner, serving Norway, under the name the tests look for."""
        self.add_partner(
            slug,
            name="Megler Eksempel AS",
            endpoint=reference.url,
            privacy_url=reference.url + "/privacy",
            countries="NO",
            secret=reference.secret,
            **extra,
        )

    def add_unreachable_partner(self, slug: str = "megler") -> None:
        """A partner for Norway where nothing listens: leads wait, nothing is sent anywhere."""
        self.add_partner(
            slug,
            name="Megler Eksempel AS",
            endpoint="http://127.0.0.1:9",
            privacy_url="https://megler.example.com/privacy",
            countries="NO",
            secret="a-secret-nobody-uses",
        )

    def start_web(self, name: str = "web", port: int | None = None) -> subprocess.Popen[bytes]:
        """`tillit web` on this operator's port, or (for a second web process, as if on another
        machine) on `port`."""
        port = port or self.port
        proc = tillit(
            "web", "--port", str(port), "--no-migrate", env=self.env, log=self.logs / f"{name}.log"
        )
        self.procs[name] = proc
        wait_for(f"http://127.0.0.1:{port}/healthz", proc, timeout=60)
        return proc

    def start_worker(
        self, name: str = "worker", *args: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        proc = tillit("worker", *args, env=env or self.env, log=self.logs / f"{name}.log")
        self.procs[name] = proc
        return proc

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None:
            stop(proc)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    def log_text(self) -> str:
        return "".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}\n"
            for p in sorted(self.logs.glob("*.log"))
        )


# Registers and confirms people through the product's own functions, in a process of its own
# with the operator's environment (much faster than the sign-up form; the form is covered by
# test_signup_flow).
SEED = """
import sys
import django
django.setup()
from tillit.subjects.signup import Signup, register
from tillit.subjects.confirmation import confirm, confirmation_token
from tillit.vault.pii import Pii
start, count = int(sys.argv[1]), int(sys.argv[2])
for i in range(start, start + count):
    person = Signup(name=Pii(f"Lead Person {i}"), email=Pii(f"lead-{i}@example.com"),
                    phone=Pii("+47 912 34 567") if i % 2 else None, country=sys.argv[3],
                    consents={"referral": True, "offers": bool(i % 3)}, language="nb")
    confirm(confirmation_token(register(person).subject))
"""


def seed_leads(site: Operator, count: int, *, start: int = 0, country: str = "NO") -> None:
    """`count` confirmed people from `country`, each with a lead waiting for delivery."""
    env = {**site.env, "DJANGO_SETTINGS_MODULE": "tillit.settings"}
    before = site.db.states().get("pending", 0)
    result = subprocess.run(
        [sys.executable, "-c", SEED, str(start), str(count), country],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert site.db.states().get("pending", 0) == before + count


@pytest.fixture
def make_operator(
    request: pytest.FixtureRequest, tmp_path: Path, database_url: str | None
) -> Iterator[Callable[..., Operator]]:
    """Make (and afterwards stop) the operator's installation: `make_operator(smtp_port=...,
    **extra_env)`, already initialised with `tillit init`. When the test fails, the tails of
    the processes' logs are printed."""
    made: list[Operator] = []

    def make(smtp_port: int | None = None, **extra_env: str) -> Operator:
        operator = Operator(tmp_path / "operator", database_url, smtp_port, extra_env)
        made.append(operator)
        operator.init()
        return operator

    try:
        yield make
    finally:
        for operator in made:
            operator.stop_all()
            report = getattr(request.node, "report_call", None)
            if report is not None and report.failed:
                print(operator.log_text())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def reference(tmp_path: Path) -> Iterator[ReferencePartner]:
    """The reference partner as its own service, with its own data directory (outside the
    operator's: it is the processor and is meant to hold the leads)."""
    partner = ReferencePartner(tmp_path / "partner")
    partner.start()
    try:
        yield partner
    finally:
        partner.stop()


def partner_leads(partner: ReferencePartner) -> list[dict[str, Any]]:
    return httpx.get(partner.url + "/leads.json", timeout=10).json()["leads"]


def partner_count(partner: ReferencePartner) -> int:
    return int(httpx.get(partner.url + "/leads.json", timeout=10).json()["count"])


# --- A person using the site over HTTP -----------------------------------------------------


class Visitor:
    """A person with a browser's cookie jar, talking to `tillit web` over real HTTP."""

    def __init__(self, site_url: str) -> None:
        self.site_url = site_url
        self.http = httpx.Client(base_url=site_url, timeout=20, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def sign_up(self, fields: dict[str, str], path: str = "/") -> httpx.Response:
        """GET the form (CSRF cookie and token), POST it, follow the redirect; return the page
        the person lands on."""
        form = self.http.get(path)
        assert form.status_code == 200, form.text
        assert self.http.cookies.get("csrftoken"), "the form set no CSRF cookie"
        answer = self.http.post(path, data={**fields, "csrfmiddlewaretoken": csrf_token(form.text)})
        assert answer.status_code == 302, f"sign-up answered {answer.status_code}:\n{answer.text}"
        landed = self.http.get(answer.headers["location"])
        assert landed.status_code == 200
        return landed

    def confirm(self, link: str) -> httpx.Response:
        """Follow the e-mail's link (a page with a button), then press the button."""
        page = self.http.get(link)
        assert page.status_code == 200, page.text
        assert "<button" in page.text
        return self.http.post(link, data={"csrfmiddlewaretoken": csrf_token(page.text)})


@pytest.fixture
def visitors() -> Iterator[Callable[[str], Visitor]]:
    made: list[Visitor] = []

    def make(site_url: str) -> Visitor:
        made.append(Visitor(site_url))
        return made[-1]

    yield make
    for v in made:
        v.close()


CONFIRM_LINK = r"http://127\.0\.0\.1:\d+/(?:en/)?confirm/[^\s/]+/"


# --- Staff ----------------------------------------------------------------------------------


class StaffMember:
    """A staff member made with `tillit staff add`, whose authenticator app is this object: it
    computes the codes from the otpauth:// link the command printed."""

    def __init__(self, site: Operator, username: str, role: str) -> None:
        out = site.command("staff", "add", username, "--role", role)
        self.username = username
        self.password = re.search(r"\(shown once\): (\S+)", out).group(1)
        otpauth = re.search(r"otpauth://\S+", out).group(0)
        self.key = b32decode(parse_qs(urlsplit(otpauth).query)["secret"][0])

    def code(self) -> str:
        return f"{totp(self.key):06d}"

    def http(self, site_url: str) -> httpx.Client:
        """A signed-in HTTP client (the console's real form: password, then the code)."""
        client = httpx.Client(base_url=site_url, timeout=20)
        form = client.get("/console/login/")
        answer = client.post(
            "/console/login/?next=/console/",
            data={
                "username": self.username,
                "password": self.password,
                "otp_token": self.code(),
                "csrfmiddlewaretoken": csrf_token(form.text),
            },
        )
        assert answer.status_code == 302, answer.text[:2000]
        return client

    def sign_in(self, browser: Any, site_url: str) -> Any:
        context = browser.new_context(locale="en-GB")
        context.set_default_timeout(15_000)
        page = context.new_page()
        page.goto(site_url + "/console/")
        page.get_by_label("Username").fill(self.username)
        page.get_by_label("Password").fill(self.password)
        page.get_by_label("Code from your authenticator app").fill(self.code())
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("heading", name="Site administration").wait_for()
        return context, page


# Real browser tests: Debian's Chromium, driven by Playwright, never a downloaded build.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = scan.CHROMIUM_ARGS  # the flags `tillit scan` uses too


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, timeout=30_000
        )
        try:
            yield chromium
        finally:
            chromium.close()


class Console:
    """Errors the page reports: console errors (a CSP violation is one) and uncaught
    exceptions (a missing favicon is not the page's fault)."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        page.on("console", self.on_console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def on_console(self, message: Any) -> None:
        if message.type != "error":
            return
        if message.location.get("url", "").endswith("/favicon.ico"):
            return
        self.errors.append(f"{message.text} ({message.location.get('url')})")
