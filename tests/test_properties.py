"""Bad input at scale: property-based tests of every public form and of the vault.

Each form is posted through its view with Django's test client, with values drawn from any
text (control characters, combining marks, right-to-left marks, private use, huge values)
next to plausible ones. Whatever is sent, the answer is a success or a refusal that names the
problem in the visitor's language (the same refusal in English at /en/), and a refusal leaves
every row of every table as it was. A success keeps what was typed, normalised as promised.

Every example runs in a savepoint that is rolled back afterwards, with the rate-limit counters
cleared, so examples cannot see each other.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import pickle
import re
import unicodedata
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import phonenumbers
import pytest
from django.core.cache import cache
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.html import escape
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.rights_helpers import kari
from tillit import datamap
from tillit.consent import cookies
from tillit.consent.models import CookieConsent
from tillit.contact.models import ContactMessage
from tillit.partners import signing
from tillit.rights import answers, verification
from tillit.rights.models import Challenge, PartnerTask, RightsRequest, TaskState
from tillit.subjects.fields import valid_email
from tillit.subjects.models import Subject
from tillit.vault.blind import email_index, normalise_email, phone_index
from tillit.vault.models import Envelope, Purpose
from tillit.vault.pii import Pii

__all__ = ["kari"]  # a fixture, used by name: signed up, confirmed, her lead delivered

pytestmark = pytest.mark.django_db

# Few examples each: the file runs in well under a minute, on SQLite and on PostgreSQL. No
# example database: nothing is written into the working tree.
PROPERTY = settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
FEWER = settings(PROPERTY, max_examples=15)
MANY = settings(PROPERTY, max_examples=100)

# --- What the visitors type ----------------------------------------------------------------

# Characters people rarely mean but browsers happily send: controls (NUL included), format
# characters (bidi overrides, zero-width joiners), separators, combining marks, private use.
ODD = st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "Co"])
HUGE = st.tuples(
    st.sampled_from([41, 199, 200, 201, 254, 255, 4000, 4001, 20_000]),
    st.sampled_from(["x", "ø", "9", " ", "\x00", "a@"]),
).map(lambda size_char: size_char[1] * size_char[0])
WILD = st.one_of(st.text(), st.text(ODD, min_size=1), HUGE)


def variants(value: str) -> st.SearchStrategy[str]:
    """`value` as people type it: with spaces around it, or in another case (ASCII only)."""
    return st.tuples(
        st.sampled_from(["", " ", "\t", "\u00a0"]),
        st.sampled_from([str, str.upper, str.lower, str.title]),
        st.sampled_from(["", " ", "\n"]),
    ).map(lambda t: t[0] + (t[1](value) if value.isascii() else value) + t[2])


REAL_EMAILS = st.sampled_from(
    ["kari@example.com", "ola.nordmann+tillit@example.no", "åse@example.com", "li@例え.jp"]
)
EMAILS = st.one_of(st.emails(domains=st.just("example.com")), REAL_EMAILS.flatmap(variants), WILD)


def phone_numbers(region: str) -> st.SearchStrategy[str]:
    """Real numbers of a country (its example numbers), in the forms people write them."""
    formats = [
        phonenumbers.PhoneNumberFormat.E164,
        phonenumbers.PhoneNumberFormat.INTERNATIONAL,
        phonenumbers.PhoneNumberFormat.NATIONAL,
    ]
    numbers = [
        phonenumbers.example_number_for_type(region, kind)
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE)
    ]
    return st.sampled_from(
        [phonenumbers.format_number(n, f) for n in numbers if n is not None for f in formats]
    )


PHONES = st.one_of(st.just(""), phone_numbers("NO"), phone_numbers("SE"), WILD)
COUNTRIES = st.one_of(st.sampled_from(["NO", "SE", "DK", "", "XX", "no"]), WILD)
NAMES = st.one_of(st.sampled_from(["Kari Nordmann", "李小龍", "Zoë O'Brien", " Åse "]), WILD)
TICKS = st.sampled_from(["on", "", "off", "true", "\x00", "0"])
OMITTED = None


def spoiled(
    plausible: dict[str, st.SearchStrategy[Any]], wild: dict[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[dict[str, Any]]:
    """Form data as a person fills it in, with any of its fields (often none, sometimes all)
    replaced by anything at all, left out (None), or added where the form has no such field."""

    def spoil(parts: tuple[dict[str, Any], dict[str, Any], set[str]]) -> dict[str, Any]:
        data, anything, chosen = parts
        data = {**data, **{k: anything[k] for k in chosen}}
        return {k: v for k, v in data.items() if v is not OMITTED}

    return st.tuples(
        st.fixed_dictionaries(plausible),
        st.fixed_dictionaries(wild),
        st.sets(st.sampled_from(sorted(wild))),
    ).map(spoil)


# --- What a refusal looks like -------------------------------------------------------------


# A refused attempt still counts against its rate limit (or an attacker could probe for free):
# the one change a refusal makes, to a counter that holds no input.
COUNTERS = "core_attempts"


def snapshot() -> dict[str, list[str]]:
    """Every row of every table but the rate limits' counters, as text: what "nothing changed"
    is checked against."""
    rows = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            if table == COUNTERS:
                continue
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            rows[table] = sorted(
                repr([bytes(v) if isinstance(v, memoryview) else v for v in row])
                for row in cursor.fetchall()
            )
    return rows


@contextmanager
def one_example() -> Iterator[None]:
    """Each example on a clean slate: no rate-limit counts, and its rows rolled back."""
    cache.clear()
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def messages(response: Any, language: str = "nb") -> dict[str, list[str]]:
    """The refused form's errors by field, in the page's language; {} for a page without a
    form. (The messages are lazy: they are read here in the language the page was in.)"""
    form = response.context.get("form") if response.context else None
    if form is None:
        return {}
    with translation.override(language):
        return {k: [str(m) for m in v] for k, v in form.errors.items()}


def unreadable(language: str) -> str:
    """The title of the page for a body that cannot be read as a form, in `language`."""
    with translation.override(language):
        return translation.gettext("We could not read that")


def assert_refused_clearly(nb: Any, en: Any) -> None:
    """Both answers refuse, name the same fields, and show each problem in their language."""
    assert nb.status_code == en.status_code == 400, (nb.status_code, en.status_code)
    said_nb, said_en = messages(nb, "nb"), messages(en, "en")
    if not said_nb and not said_en:
        # Too large (or too strange) to be read at all: the one page for that, in each language.
        assert escape(unreadable("nb")) in nb.content.decode()
        assert escape(unreadable("en")) in en.content.decode()
        return
    assert said_nb and said_nb.keys() == said_en.keys()
    for field, texts in said_nb.items():
        for text_nb, text_en in zip(texts, said_en[field], strict=True):
            assert text_nb and text_nb != text_en, (field, text_nb, text_en)
        # A field shows at least its first problem (some pages show one at a time).
        assert escape(texts[0]) in nb.content.decode()
        assert escape(said_en[field][0]) in en.content.decode()


def sealed_for_people() -> bool:
    """Whether the vault holds anything of a person (a partner's secret is not)."""
    return Envelope.objects.exclude(purpose=Purpose.PARTNER_SECRET).exists()


def rewind(data: dict[str, Any]) -> None:
    """Uploads are read by each post: start them again from the beginning."""
    for value in data.values():
        if hasattr(value, "seek"):
            value.seek(0)


def post_in_both(client: Any, path: str, data: dict[str, Any], **extra: Any) -> tuple[Any, Any]:
    """Post in bokmål; a refusal is posted again in English to compare the messages. The
    second answer is None when the first one succeeded."""
    before = snapshot()
    rewind(data)
    nb = client.post(path, data, **extra)
    assert nb.status_code < 500
    if nb.status_code != 400:
        return nb, None
    assert snapshot() == before, "a refused post changed the database"
    cache.clear()
    rewind(data)
    en = client.post("/en" + path, data, **extra)
    assert snapshot() == before, "a refused post changed the database"
    assert_refused_clearly(nb, en)
    return nb, en


# --- The sign-up form (P3, P5) -------------------------------------------------------------

SIGNUP = spoiled(
    {
        "name": NAMES.filter(str.strip),
        "email": st.one_of(
            st.emails(domains=st.just("example.com")), REAL_EMAILS.flatmap(variants)
        ),
        "phone": st.one_of(st.just(""), phone_numbers("NO")),
        "country": st.just("NO"),
        "consent_partner": st.just("on"),
        "consent_offers": st.sampled_from(["on", OMITTED]),
    },
    {
        "name": WILD,
        "email": WILD,
        "phone": PHONES,
        "country": COUNTRIES,
        "consent_partner": st.one_of(TICKS, st.none()),
        "website": WILD,  # the honeypot: filled in only by bots
        "ssn": WILD,  # undeclared: dropped, never stored (P5)
    },
)


@pytest.mark.promise("P3")
@given(typed=SIGNUP)
@PROPERTY
def test_any_sign_up_is_kept_as_typed_or_refused_in_words_changing_nothing(client, partner, typed):
    with one_example():
        answer, refusal = post_in_both(client, "/", typed)
        if refusal is not None:
            return
        assert answer.status_code == 302 and answer["Location"] == "/sent/"
        if typed.get("website"):  # a bot's post: the same answer, and nothing kept
            assert not Subject.objects.exists() and not sealed_for_people()
            return
        lead = Envelope.objects.get(purpose=Purpose.LEAD).open()
        assert set(lead) == {"name", "email", "phone", "country", "language"}  # P5
        assert lead["email"].reveal() == valid_email(typed["email"])
        assert lead["name"].reveal() == unicodedata.normalize("NFC", typed["name"].strip()).strip()
        assert lead["country"].reveal() == typed["country"]
        subject = Subject.objects.get()
        assert subject.email_index == email_index(Pii(typed["email"]))
        if lead["phone"].reveal():
            assert lead["phone"].reveal().startswith("+")
            parsed = phonenumbers.parse(lead["phone"].reveal())
            assert phonenumbers.is_valid_number(parsed)


@pytest.mark.promise("P5")
@given(extra=st.dictionaries(st.text(min_size=1, max_size=20), WILD, max_size=5))
@FEWER
def test_undeclared_fields_never_reach_the_database_or_the_lead(client, partner, visitor, extra):
    declared = {"name", "email", "phone", "country", "consent_partner", "consent_offers"}
    extra = {k: v for k, v in extra.items() if k not in declared | {"website"}}
    canaries = {k: f"canary-{uuid.uuid4().hex}" for k in extra}
    with one_example():
        answer = client.post("/", {**visitor, **canaries})
        assert answer.status_code in (302, 400)
        stored = repr(snapshot())
        assert not any(canary in stored for canary in canaries.values())
        if answer.status_code == 302:
            assert set(Envelope.objects.get(purpose=Purpose.LEAD).open()) == {
                "name",
                "email",
                "phone",
                "country",
                "language",
            }


# --- The privacy centre (P25-P32) ----------------------------------------------------------

START = spoiled(
    {
        "kind": st.sampled_from(["access", "erasure", "rectification", "portability"]),
        "email": st.one_of(
            st.emails(domains=st.just("example.com")), REAL_EMAILS.flatmap(variants)
        ),
    },
    {"kind": WILD, "email": WILD},
)


@pytest.mark.promise("P25")
@given(typed=START)
@PROPERTY
def test_any_request_start_sends_a_code_to_the_address_as_typed_or_is_refused(client, typed):
    with one_example():
        answer, refusal = post_in_both(client, "/privacy/", typed)
        if refusal is not None:
            return
        assert answer.status_code == 302
        challenge = Challenge.objects.get()
        # The code goes to the address exactly as typed (spaces aside), found by its index.
        assert challenge.envelope.open()["email"].reveal() == typed["email"].strip()
        assert challenge.email_index == email_index(Pii(typed["email"]))
        assert challenge.kind == typed["kind"]


@pytest.fixture
def challenge(db: None) -> Any:
    """A request started for an address nobody signed up with; its code is readable here."""

    def start(kind: str = "access") -> tuple[Challenge, str]:
        made = verification.start("someone@example.com", kind, "nb")
        return made, made.envelope.open()["code"].reveal()

    return start


@pytest.mark.promise("P25")
@given(typed=st.one_of(WILD, st.from_regex(r"\A\s*\d{3}\s?\d{3}\s*\Z")), right=st.booleans())
@PROPERTY
def test_any_code_is_judged_and_only_the_right_one_proves_the_address(
    client, challenge, typed, right
):
    with one_example():
        started, code = challenge()
        given_code = f" {code[:3]} {code[3:]} " if right else typed
        assume(right or "".join(typed.split()) != code)
        tries = started.tries
        answer = client.post(f"/privacy/verify/{started.id}/", {"code": given_code})
        assert answer.status_code in (302, 400)
        started.refresh_from_db()
        if right:
            assert answer.status_code == 302 and started.verified_at is not None
            return
        assert started.verified_at is None
        # A wrong code counts as a try; what is not a code at all (too long, unreadable) is
        # refused before it is compared, and changes nothing.
        compared = bool(answer.context and answer.context.get("refusal"))
        assert started.tries == tries + compared
        if not compared:
            assert messages(answer) or escape(unreadable("nb")) in answer.content.decode()


def verified(kind: str, address: str = "kari@example.com") -> Challenge:
    """A challenge proven for `address` just now (as the code step leaves it)."""
    made = verification.start(address, kind, "nb")
    Challenge.objects.filter(id=made.id).update(verified_at=timezone.now())
    return made


# The kari fixture runs the worker, which closes database connections: not in a test transaction.
@pytest.mark.django_db(transaction=True)
@pytest.mark.promise("P26")
@given(
    typed=spoiled(
        {
            "name": st.sampled_from(["", "Kari Rettet", " Åse Ødegård "]),
            "phone": st.one_of(st.just(""), phone_numbers("NO")),
            "country": st.sampled_from(["", "NO"]),
        },
        {"name": WILD, "phone": PHONES, "country": COUNTRIES},
    )
)
@PROPERTY
def test_any_correction_is_recorded_as_typed_or_refused_in_words(client, kari, typed):
    with one_example():
        path = f"/privacy/confirm/{verified('rectification').id}/"
        answer, refusal = post_in_both(client, path, typed)
        if refusal is not None:
            return
        assert answer.status_code == 302
        request = RightsRequest.objects.get()
        changes = {k: v.reveal() for k, v in request.details.open().items()}
        assert changes and set(changes) <= {"name", "phone", "country"}
        if "name" in changes:
            typed_name = unicodedata.normalize("NFC", typed["name"].strip()).strip()
            assert changes["name"] == typed_name
        if "country" in changes:
            assert changes["country"] == typed["country"]
        if "phone" in changes:
            assert phonenumbers.is_valid_number(phonenumbers.parse(changes["phone"]))


# The kari fixture runs the worker, which closes database connections: not in a test transaction.
@pytest.mark.django_db(transaction=True)
@pytest.mark.promise("P28")
@given(
    typed=spoiled(
        {
            "recipient_name": st.sampled_from(["", "Bank B AS"]),
            "recipient_email": st.sampled_from(["", "personvern@bank-b.example.com"]),
            "confirm_transfer": st.sampled_from(["on", OMITTED]),
        },
        {"recipient_name": WILD, "recipient_email": EMAILS, "confirm_transfer": TICKS},
    )
)
@PROPERTY
def test_any_portability_recipient_is_recorded_as_typed_or_refused_in_words(client, kari, typed):
    with one_example():
        path = f"/privacy/confirm/{verified('portability').id}/"
        answer, refusal = post_in_both(client, path, typed)
        if refusal is not None:
            return
        assert answer.status_code == 302
        request = RightsRequest.objects.get()
        if request.details is None:
            assert not (typed.get("recipient_name", "") + typed.get("recipient_email", "")).strip()
            return
        details = {k: v.reveal() for k, v in request.details.open().items()}
        assert details["recipient_email"] == typed["recipient_email"].strip()
        valid_email(details["recipient_email"])
        typed_name = unicodedata.normalize("NFC", typed["recipient_name"].strip()).strip()
        assert unicodedata.normalize("NFC", details["recipient_name"]) == typed_name


# --- A partner's answer through its one-time link (P25) ------------------------------------


def partner_task(partner: Any) -> PartnerTask:
    """An access request passed on to `partner`, which answers through its link."""
    now = timezone.now()
    request = RightsRequest.objects.create(kind="access", due_at=now + timedelta(days=30))
    return PartnerTask.objects.create(request=request, partner=partner, state=TaskState.PENDING)


def upload(name: str, ext: str, content: bytes) -> SimpleUploadedFile:
    """A file as a browser sends it (which has a name: the test client needs one too)."""
    try:
        return SimpleUploadedFile(name + ext, content)
    except SuspiciousFileOperation:
        return SimpleUploadedFile("_" + ext, content)


FILES = st.one_of(
    st.none(),
    st.builds(
        upload,
        name=st.one_of(st.just("../kari data"), st.text(max_size=40)),
        ext=st.sampled_from([".json", ".CSV", ".txt", ".pdf", ".zip", ".xml", ".exe", ""]),
        content=st.binary(max_size=2048),
    ),
)
ANSWERS = spoiled(
    {
        "answer": st.sampled_from(["done", "no_data"]),
        "file": st.builds(
            upload,
            name=st.sampled_from(["kari", "Kari Nordmann (data)"]),
            ext=st.sampled_from([".json", ".csv", ".pdf"]),
            content=st.binary(max_size=2048),
        ),
    },
    {"answer": WILD, "file": FILES},
)


@pytest.mark.promise("P25")
@given(typed=ANSWERS)
@PROPERTY
def test_any_partner_answer_is_sealed_as_uploaded_or_refused_changing_nothing(
    client, partner, typed
):
    with one_example():
        task = partner_task(partner)
        path = answers.link(task).removeprefix("/en")
        content = typed["file"].read() if "file" in typed else b""
        answered, refusal = post_in_both(client, path, typed)
        task.refresh_from_db()
        if refusal is not None:
            assert task.state == TaskState.PENDING
            return
        assert answered.status_code == 200
        assert task.state == TaskState.COMPLETED and task.answer == typed["answer"]
        if task.answer != "done":
            return
        sealed = {k: v.reveal() for k, v in task.answer_file.open().items()}
        assert base64.b64decode(sealed["data"]) == content
        assert re.fullmatch(r"[A-Za-z0-9._-]{1,80}", sealed["name"])


# --- The contact form (P4) -----------------------------------------------------------------

CONTACT = spoiled(
    {
        "message": st.sampled_from(["Hvorfor ble jeg henvist?", "Hei!\r\nLinje to.", " ? "]),
        "email": st.one_of(st.just(""), st.emails(domains=st.just("example.com"))),
        "phone": st.one_of(st.just(""), phone_numbers("NO")),
        "name": st.sampled_from(["", "Ola Spørsmål", OMITTED]),
    },
    {
        "message": WILD,
        "email": st.one_of(REAL_EMAILS.flatmap(variants), WILD),
        "phone": PHONES,
        "name": WILD,
        "website": WILD,
    },
)


@pytest.mark.promise("P4")
@given(typed=CONTACT)
@PROPERTY
def test_any_contact_message_is_sealed_as_typed_or_refused_in_words(client, typed):
    with one_example():
        answer, refusal = post_in_both(client, "/contact/", typed)
        if refusal is not None:
            return
        if typed.get("website"):  # a bot's post: the same page, and nothing kept
            assert not ContactMessage.objects.exists() and not sealed_for_people()
            return
        assert answer.status_code == 302
        message = ContactMessage.objects.get()
        sealed = {k: v.reveal() for k, v in message.envelope.open().items()}
        email = typed["email"].strip()
        assert sealed["email"] == (valid_email(email) if email else "")
        assert sealed["thread"][0]["text"] == typed["message"].replace("\r\n", "\n").strip()
        assert message.by_email == bool(email) and message.by_phone == bool(sealed["phone"])


# --- The cookie choice (P13, P14) ----------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
ACTIONS = ["accept_all", "reject_all", "custom", "withdraw", "gpc"]
CATEGORIES = st.lists(st.sampled_from(["analytics", "third_party", "essential", "x"]), max_size=3)


def choices(current_version: str) -> st.SearchStrategy[Any]:
    """Bodies for the banner's JSON: near misses of a real choice, and anything else."""
    near = st.fixed_dictionaries(
        {},
        optional={
            "action": st.one_of(st.sampled_from(ACTIONS), JSON_VALUES),
            "source": st.one_of(st.sampled_from(["banner", "settings", "gpc"]), JSON_VALUES),
            "granted": st.one_of(CATEGORIES, JSON_VALUES),
            "version": st.one_of(st.just(current_version), JSON_VALUES),
            "consent_id": st.one_of(st.uuids().map(str), JSON_VALUES),
            "extra": JSON_VALUES,
        },
    )
    valid = st.sampled_from(
        [
            {"action": "accept_all", "granted": ["analytics", "third_party"]},
            {"action": "reject_all", "granted": []},
            {"action": "custom", "granted": ["analytics"]},
            {"action": "custom", "granted": ["third_party"]},
        ]
    ).map(lambda c: {**c, "source": "banner", "version": current_version})
    return st.one_of(valid, st.one_of(near, JSON_VALUES))


@pytest.mark.promise("P14")
@given(data=st.data())
@PROPERTY
def test_any_cookie_choice_is_recorded_once_or_refused_changing_nothing(client, data):
    current = cookies.version(datamap.load())
    body = data.draw(
        st.one_of(
            choices(current).map(lambda c: json.dumps(c).encode()),
            # (Not empty: the test client sends no Content-Type with an empty body.)
            st.binary(min_size=1, max_size=3000),
            st.just(b"[" * 1000 + b"]" * 1000),
        )
    )
    with one_example():
        before = snapshot()
        answer = client.post("/cookies/choice", body, content_type="application/json")
        assert answer.status_code in (200, 400), answer.status_code
        if answer.status_code == 400:
            assert snapshot() == before
            refusal = answer.json()
            assert refusal["error"] and refusal["reason"]
            return
        proof = answer.json()
        record = CookieConsent.objects.get()
        assert str(record.consent_id) == proof["consent_id"]
        assert set(record.granted) <= {"analytics", "third_party"}
        assert set(record.granted) | set(record.refused) == {"analytics", "third_party"}


@pytest.mark.promise("P13")
@given(
    form=st.fixed_dictionaries(
        {},
        optional={
            "choice": st.one_of(st.sampled_from(["accept", "reject", "save"]), WILD),
            "granted": st.one_of(CATEGORIES, st.lists(WILD, max_size=3)),
            "version": st.one_of(st.just("current"), WILD),
        },
    )
)
@PROPERTY
def test_any_cookie_settings_form_is_recorded_or_refused_in_words(client, form):
    if form.get("version") == "current":
        form["version"] = cookies.version(datamap.load())
    with one_example():
        before = snapshot()
        nb = client.post("/cookies/choice", form)
        assert nb.status_code in (302, 400), nb.status_code
        if nb.status_code == 302:
            assert CookieConsent.objects.count() == 1
            return
        assert snapshot() == before
        cache.clear()
        en = client.post("/en/cookies/choice", form)
        assert en.status_code == 400 and snapshot() == before
        said_nb, said_en = (page.context.get("error") if page.context else "" for page in (nb, en))
        if not said_nb and not said_en:  # too large to be read at all
            said_nb, said_en = unreadable("nb"), unreadable("en")
        assert said_nb and said_en and said_nb != said_en
        assert escape(said_nb) in nb.content.decode()
        assert escape(said_en) in en.content.decode()


# --- Signatures between tillit and a partner (P17) -----------------------------------------

NOW = 1_800_000_000  # the receiver's clock, for these tests
HEX64 = st.text("0123456789abcdef", min_size=64, max_size=64)
HEADERS = st.one_of(
    st.none(),
    st.text(),
    st.builds(
        "t={},v1={}".format,
        st.one_of(st.integers(), st.just(NOW), st.text(), st.just("9" * 400)),
        st.one_of(HEX64, st.text(), st.just("é" * 64)),
    ),
)


@pytest.mark.promise("P17")
@given(header=HEADERS, body=st.binary(max_size=64))
@MANY
def test_any_signature_header_is_refused_in_words_unless_it_is_the_right_one(header, body):
    secret = b"a-shared-secret"
    right = signing.sign(secret, body, purpose="lead", timestamp=NOW)
    try:
        signing.verify(secret, body, header, purpose="lead", now=NOW)
    except signing.SignatureError as refusal:
        assert str(refusal) and "a-shared-secret" not in str(refusal)
        assert header != right
    else:
        assert header is not None and header.split(",v1=")[-1] == right.split(",v1=")[-1]


@pytest.mark.promise("P17")
@given(body=st.binary(max_size=256), change=st.data())
@MANY
def test_a_signature_holds_for_its_bytes_and_purpose_only(body, change):
    secret = b"a-shared-secret"
    header = signing.sign(secret, body, purpose="lead")
    assert signing.verify(secret, body, header, purpose="lead")
    other = change.draw(st.binary(max_size=256).filter(lambda b: b != body))
    for wrong in (
        lambda: signing.verify(secret, other, header, purpose="lead"),
        lambda: signing.verify(secret, body, header, purpose="receipt"),
        lambda: signing.verify(b"another-secret", body, header, purpose="lead"),
    ):
        with pytest.raises(signing.SignatureError):
            wrong()


# --- The vault (P16) and blind indexes (P1) ------------------------------------------------

SEALABLE = st.dictionaries(st.text(), st.text(), max_size=8)
PURPOSES = st.sampled_from(Purpose.values)


@pytest.mark.promise("P16")
@given(data=SEALABLE, purpose=PURPOSES)
@MANY
def test_what_is_sealed_opens_as_it_was(data, purpose):
    with one_example():
        sealed = Envelope.objects.seal({k: Pii(v) for k, v in data.items()}, purpose)
        opened = Envelope.objects.get(id=sealed.id).open()
        assert {k: v.reveal() for k, v in opened.items()} == data
        assert all(isinstance(v, Pii) for v in opened.values())


# What a text column can hold on both databases (PostgreSQL refuses NUL).
STORABLE = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20)


def tamper(envelope: Envelope, field: str, draw: Any) -> None:
    """Change one thing about a stored envelope, as a thief or a bug might."""
    if field in ("ciphertext", "wrapped_key", "nonce"):
        value = bytearray(bytes(getattr(envelope, field)))
        how = draw(st.sampled_from(["flip", "cut", "grow"]))
        if how == "flip":
            at = draw(st.integers(0, len(value) - 1))
            value[at] ^= draw(st.integers(1, 255))
        elif how == "cut":
            del value[draw(st.integers(0, len(value) - 1)) :]
        else:
            value += draw(st.binary(min_size=1, max_size=16))
        setattr(envelope, field, bytes(value))
    elif field == "purpose":
        envelope.purpose = draw(STORABLE.filter(lambda p: p != envelope.purpose))
    elif field == "id":
        envelope.id = draw(st.uuids().filter(lambda u: u != envelope.id))
    else:
        envelope.kek_id = draw(STORABLE.filter(lambda k: k != envelope.kek_id))


@pytest.mark.promise("P16")
@given(
    data=SEALABLE,
    field=st.sampled_from(["ciphertext", "wrapped_key", "nonce", "purpose", "id", "kek_id"]),
    draw=st.data(),
)
@MANY
def test_a_tampered_envelope_never_opens(data, field, draw):
    with one_example():
        sealed = Envelope.objects.seal(data, Purpose.LEAD)
        stored = Envelope.objects.get(id=sealed.id)
        tamper(stored, field, draw.draw)
        # Saved and read back, as a changed row would be (a changed id is another row).
        Envelope.objects.filter(id=sealed.id).delete()
        stored.save(force_insert=True)
        with pytest.raises(Exception) as refused:  # any refusal will do, never data
            Envelope.objects.get(id=stored.id).open()
        assert not isinstance(refused.value, AssertionError)


def case_and_space(address: str) -> st.SearchStrategy[str]:
    """The same address with its ASCII letters in any case and blanks around it."""
    return st.tuples(
        st.lists(st.booleans(), min_size=len(address), max_size=len(address)),
        st.sampled_from(["", " ", "\t", "\n "]),
        st.sampled_from(["", " ", "\r\n"]),
    ).map(
        lambda t: (
            t[1]
            + "".join(c.upper() if up and c.isascii() else c for c, up in zip(address, t[0]))
            + t[2]
        )
    )


@pytest.mark.promise("P1")
@given(
    pair=st.one_of(st.emails(), REAL_EMAILS, st.text()).flatmap(
        lambda a: st.tuples(st.just(a), case_and_space(a))
    ),
    other=st.one_of(st.emails(), st.text()),
)
@MANY
def test_an_email_index_is_the_same_for_the_same_address_however_typed(pair, other):
    address, typed = pair
    assert email_index(Pii(address)) == email_index(Pii(address))
    assert email_index(Pii(typed)) == email_index(Pii(address))
    # Unicode's two spellings of one character (composed, decomposed) are one address.
    decomposed = unicodedata.normalize("NFD", address)
    assert email_index(Pii(decomposed)) == email_index(Pii(address))
    # Different addresses never share an index, and the index shows nothing of either.
    same = normalise_email(other) == normalise_email(address)
    assert (email_index(Pii(other)) == email_index(Pii(address))) == same
    assert re.fullmatch(r"[0-9a-f]{64}", email_index(Pii(address)))


@pytest.mark.promise("P1")
@given(
    region=st.sampled_from(["NO", "SE", "DK", "FI", "DE", "GB"]).flatmap(
        lambda r: st.tuples(st.just(r), phone_numbers(r))
    )
)
@MANY
def test_a_phone_index_is_the_same_however_the_number_is_written(region):
    country, typed = region
    e164 = phonenumbers.format_number(
        phonenumbers.parse(typed, country), phonenumbers.PhoneNumberFormat.E164
    )
    assert phone_index(Pii(typed), country) == phone_index(Pii(e164)) == phone_index(Pii(e164))


PII_VALUES = st.one_of(
    st.text(min_size=4),
    st.integers(min_value=10_000),
    st.dictionaries(st.text(min_size=4), st.text(min_size=4), min_size=1),
)
SPECS = st.one_of(st.sampled_from(["", "s", ">20", "^40", "*<9", ".2", "r"]), st.text(max_size=5))


@pytest.mark.promise("P1")
@given(value=PII_VALUES, spec=SPECS)
@MANY
def test_pii_never_shows_its_value(value, spec):
    secret = Pii(value)
    shown = str(value)
    assume(shown not in "Pii('***')")
    logged = io.StringIO()
    log = logging.getLogger("tillit.test.pii")
    handler = logging.StreamHandler(logged)
    log.addHandler(handler)
    try:
        log.warning("%s %r %s", secret, secret, [secret])
    finally:
        log.removeHandler(handler)
    for text in (
        str(secret),
        repr(secret),
        format(secret, spec),
        f"{secret} {secret!r} {secret!s} {secret!a}",
        "%s %r %a" % (secret, secret, secret),  # noqa: UP031 - the old way, too
        repr([secret, {"k": secret}, (secret,)]),
        logged.getvalue(),
    ):
        assert shown not in text and repr(value) not in text
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError):
            pickle.dumps(secret, protocol=protocol)
    with pytest.raises(TypeError):
        json.dumps(secret)
    assert secret.reveal() == value
