"""The canary test: plant recognisable people, take each down one of the flow's three ends
(delivered, undeliverable, never confirmed), stop everything and search every byte the
operator keeps (data directory or database, and the processes' logs) for them in every
encoding we can think of. The processor (the reference partner) may hold the delivered one;
the operator may hold none of them, readable or trivially encoded (P9, P16), nor a field the
form does not declare (P5)."""

from __future__ import annotations

import base64
import json
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, quote_plus

import phonenumbers
import pytest

from tests.conftest import CANARY_EMAIL, CANARY_NAME, CANARY_PHONE
from tests.e2e.conftest import CONFIRM_LINK, ON_POSTGRES, Inbox, partner_leads, serving, until
from tests.processes import free_port

pytestmark = pytest.mark.timeout(240)


UNDECLARED_FIELD, UNDECLARED_VALUE = "mother_maiden_name", "Kanarimor Undeclaredsdottir"


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    phone: str
    country: str

    def form(self) -> dict[str, str]:
        return {
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "country": self.country,
            "consent_partner": "on",
            "consent_offers": "on",
            # A field the form does not declare: it must be dropped, never kept (P5).
            UNDECLARED_FIELD: UNDECLARED_VALUE,
        }

    def values(self) -> list[str]:
        number = phonenumbers.parse(self.phone, self.country)
        fmt = phonenumbers.PhoneNumberFormat
        return [
            self.name,
            self.email,
            self.phone,
            phonenumbers.format_number(number, fmt.E164),
            phonenumbers.format_number(number, fmt.NATIONAL),
            phonenumbers.national_significant_number(number),
        ]


# (a) is delivered to the reference partner (NO); (b) lives in SE, which only a partner that
# cannot be reached serves, so its lead fails; (c) never confirms and expires.
DELIVERED = Person(CANARY_NAME, CANARY_EMAIL, CANARY_PHONE, "NO")
UNDELIVERABLE = Person(
    "Kanarisvale Åsmundsdóttir", "kanari.canary-7f3a.sverige@example.com", "+46 70 123 45 67", "SE"
)
EXPIRED = Person(
    "Kanarigjøk Åsmundsdóttir", "kanari.canary-7f3a.utlopt@example.com", "+47 412 34 567", "NO"
)
PEOPLE = (DELIVERED, UNDELIVERABLE, EXPIRED)
# Parts every canary shares, so that a truncated or re-cased copy is caught too.
FRAGMENTS = ["Åsmundsdóttir", "kanari.canary-7f3a", "Kanarifugl", UNDECLARED_VALUE]


def encodings(value: str) -> dict[str, bytes]:
    """The value as typed and as the usual encodings would leave it in a file or a log."""
    texts = {
        "as typed": value,
        "lower case": value.lower(),
        "upper case": value.upper(),
        "NFD": unicodedata.normalize("NFD", value),
        "URL-encoded": quote(value),
        "URL-encoded (no safe)": quote(value, safe=""),
        "URL-encoded (plus)": quote_plus(value),
        "JSON-escaped": json.dumps(value)[1:-1],
    }
    found = {label: text.encode() for label, text in texts.items()}
    raw = value.encode()
    found["hex"] = raw.hex().encode()  # PostgreSQL shows bytea as hex
    found["UTF-16-LE"] = value.encode("utf-16-le")
    found["UTF-16-BE"] = value.encode("utf-16-be")
    try:
        found["Latin-1"] = value.encode("latin-1")
    except UnicodeEncodeError:
        pass
    # Base64 at each of the three alignments it can have inside a longer encoded stream: the
    # characters that encode whole 3-byte groups of the value alone.
    for lead in range(3):
        padded = b"\0" * lead + raw
        start, end = (1 if lead else 0), len(padded) // 3
        std = base64.b64encode(padded)[4 * start : 4 * end]
        found[f"base64 (offset {lead})"] = std
        found[f"URL-safe base64 (offset {lead})"] = std.translate(bytes.maketrans(b"+/", b"-_"))
    return found


def needles() -> list[tuple[str, bytes]]:
    values = [v for person in PEOPLE for v in person.values()] + FRAGMENTS
    seen: set[bytes] = set()
    out = []
    for value in values:
        for label, encoded in encodings(value).items():
            if encoded not in seen:
                seen.add(encoded)
                out.append((f"{value!r} ({label})", encoded))
    return out


def leaks(blob: bytes, where: str) -> list[str]:
    return [f"{where}: {what}" for what, encoded in needles() if encoded in blob]


def scan_files(root: Path, skip: set[str] = frozenset()) -> tuple[list[str], dict[str, int]]:
    found, sizes = [], {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root)
        if relative.parts[0] in skip:
            continue
        blob = path.read_bytes()
        sizes[str(relative)] = len(blob)
        found += leaks(blob, str(relative))
    return found, sizes


def scan_operator(site) -> list[str]:
    """Every canary in what the (stopped) operator keeps: on SQLite every file of the data
    directory (the database with its -wal and -shm, keys, everything but demo/), on PostgreSQL
    every row of every table; and the logs of its processes and commands."""
    assert not site.procs, "stop the processes first"
    found: list[str] = []
    tables = site.db.tables()
    assert {
        "subjects_subject",
        "partners_delivery",
        "vault_envelope",
        "consent_consentrecord",
        "audit_auditevent",
        "django_tasks_database_dbtaskresult",
    } <= set(tables)
    rows = 0
    for table in tables:
        # Every row as text (PostgreSQL's row literal shows bytea as hex); on SQLite this only
        # names the table a leak is in, the scan of the raw files below is the thorough one.
        query = f'SELECT t::text FROM "{table}" t' if ON_POSTGRES else f'SELECT * FROM "{table}"'
        texts = [str(r[0] if ON_POSTGRES else r) for r in site.db.rows(query)]
        rows += len(texts)
        found += leaks("\n".join(texts).encode(), f"table {table}")
    assert rows > 50, "the database is (nearly) empty: nothing was scanned"
    if not ON_POSTGRES:
        files, sizes = scan_files(site.data_dir, skip={"demo"})
        found += files
        assert sizes.get("tillit.sqlite3", 0) > 100_000, sizes
        assert sum(sizes.values()) > 1_000_000, "the data directory is (nearly) empty"
    logs, log_sizes = scan_files(site.logs)
    found += logs
    assert log_sizes.get("web.log", 0) > 0 and log_sizes.get("worker.log", 0) > 0, log_sizes
    assert "INFO tillit.worker" in (site.logs / "worker.log").read_text()
    return found


@pytest.mark.promise("P16")
def test_the_scanner_finds_every_encoding():
    """The scan itself can fail: each encoding of a canary, buried in other bytes, is found."""
    for value in (CANARY_NAME, CANARY_EMAIL, "+4791234567"):
        for label, encoded in encodings(value).items():
            assert leaks(b"\x00junk" + encoded + b"junk\xff", "sample"), (value, label)
        for filler in (b"", b"x", b"xy"):
            embedded = base64.b64encode(filler + value.encode() + b"tail")
            assert leaks(b"data:" + embedded, "sample"), (value, filler)
    assert not leaks(b"Kari Nordmann kari@example.com +4722000000", "sample")


@pytest.mark.e2e
@pytest.mark.promise("P9")
@pytest.mark.promise("P16")
@pytest.mark.promise("P5")
def test_no_canary_is_left_at_rest_after_delivery_failure_and_expiry(
    make_operator, reference, smtp, visitors, tmp_path
):
    site = make_operator(smtp_port=smtp.port, TILLIT_DELIVERY_MAX_AGE_HOURS="1")
    site.add_reference_partner(reference)
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens here
    site.add_partner(
        "borta",
        name="Borta Mäklare AB",
        endpoint=nowhere,
        privacy_url="https://borta.example.com/privacy",
        countries="SE",
        secret="a-secret-nobody-uses",
    )
    site.start_worker()
    site.start_web()

    # (a) signs up and confirms: delivered to the reference partner.
    delivered = visitors(site.url)
    delivered.sign_up(DELIVERED.form())
    assert delivered.confirm(smtp.wait_for(DELIVERED.email).link(CONFIRM_LINK)).status_code == 200
    # (b) signs up and confirms; (c) signs up and never confirms.
    undeliverable, expired = visitors(site.url), visitors(site.url)
    undeliverable.sign_up(UNDELIVERABLE.form())
    expired.sign_up(EXPIRED.form())
    assert (
        undeliverable.confirm(smtp.wait_for(UNDELIVERABLE.email).link(CONFIRM_LINK)).status_code
        == 200
    )
    expired_link = smtp.wait_for(EXPIRED.email).link(CONFIRM_LINK)

    leads = until(lambda: partner_leads(reference), 30, "the partner receives (a)")
    assert [(x["name"], x["email"], x["phone"]) for x in leads] == [
        (CANARY_NAME, CANARY_EMAIL, "+4791234567")
    ]

    # (b)'s partner is unreachable: the worker tries, fails and keeps the lead for a retry.
    to_borta = (
        "SELECT d.state, d.attempts, d.last_error, d.envelope_id FROM partners_delivery d"
        " JOIN partners_partner p ON p.id = d.partner_id WHERE p.slug = 'borta'"
    )
    # (The attempt is counted when the job is leased, the error written when it fails: wait for
    # the error.)
    until(lambda: site.db.rows(to_borta)[0][2], 30, "the worker tries to deliver (b)")
    state, _, error, envelope = site.db.rows(to_borta)[0]
    assert state in ("pending", "leased") and error.startswith("network:") and envelope

    # Move the clock: (b) was released 2 hours ago (the maximum age is 1 hour here) and (c)
    # signed up 49 hours ago (unconfirmed ones live 48 hours). Then apply the retention rules.
    now = datetime.now(UTC)
    assert (
        site.db.execute(
            "UPDATE partners_delivery SET released_at = %s, created_at = %s WHERE partner_id ="
            " (SELECT id FROM partners_partner WHERE slug = 'borta')",
            site.db.ts(now - timedelta(hours=2)),
            site.db.ts(now - timedelta(hours=2)),
        )
        == 1
    )
    assert (
        site.db.execute(
            "UPDATE subjects_subject SET created_at = %s WHERE state = 'pending'",
            site.db.ts(now - timedelta(hours=49)),
        )
        == 1
    )
    report = site.command("prune")
    assert "shred_unconfirmed: 1" in report, report
    # (b) is failed by `prune`, or by the worker if its retry held the lease at that moment.
    until(lambda: site.db.rows(to_borta)[0][0] == "failed", 20, "(b) is given up")
    assert site.db.rows(to_borta)[0][3] is None
    assert dict(site.db.rows("SELECT state, COUNT(*) FROM subjects_subject GROUP BY state")) == {
        "active": 2,
        "expired": 1,
    }
    assert site.db.states() == {"delivered": 1, "failed": 1, "cancelled": 1}
    # Only the two partners' signing secrets are still sealed; no lead, no address.
    assert site.db.rows("SELECT purpose, COUNT(*) FROM vault_envelope GROUP BY purpose") == [
        ("partner-secret", 2)
    ]
    # (c)'s link no longer works, and nothing more reached the partner.
    assert expired.confirm(expired_link).status_code == 400
    assert len(partner_leads(reference)) == 1

    # Stop everything, then read what is left.
    site.stop_all()
    reference.stop()

    found = scan_operator(site)
    assert found == [], "canaries found at rest:\n" + "\n".join(found)

    # The same scan does see the delivered canary where it is meant to be: at the processor.
    at_partner, _ = scan_files(reference.data_dir)
    assert any(repr(CANARY_NAME) in hit for hit in at_partner), at_partner
    assert any(repr(CANARY_EMAIL) in hit for hit in at_partner), at_partner


class RefusingInbox(Inbox):
    """A mail server that refuses the recipient, as one does for a mistyped mailbox."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"


@pytest.mark.e2e
@pytest.mark.promise("P9")
@pytest.mark.promise("P16")
def test_an_address_the_mail_server_refuses_is_not_kept_at_rest(make_operator, visitors):
    with serving(RefusingInbox()) as inbox:
        site = make_operator(smtp_port=inbox.port)
        site.add_unreachable_partner()
        site.start_worker()
        site.start_web()
        visitors(site.url).sign_up(DELIVERED.form())
        # The worker tries to send the confirmation e-mail; the mail server refuses it.
        until(
            lambda: (
                site.db.rows("SELECT status FROM django_tasks_database_dbtaskresult")
                in ([("FAILED",)], [("SUCCESSFUL",)])
            ),
            30,
            "the e-mail job runs",
        )
        site.stop_all()
    assert inbox.messages == []
    found = scan_operator(site)
    assert found == [], "canaries found at rest:\n" + "\n".join(found)
