"""P33, local law: a person's rights, the deadline of an answer and the authority to complain
to follow from the law of the country (or state) they live in, which the data map gives as data
([laws]). For each law: a person living under it signs up, asks for a right, and finds their
law's rights, deadline and authority on the privacy centre, the page after the request, its
e-mail, the export and the policy page, and the request's due date counted by that law."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.core import mail
from django.core.checks import run_checks
from django.utils import translation

from tests.conftest import make_partner
from tests.rights_helpers import drain_tasks, requested
from tillit import datamap
from tillit.consent.models import ConsentRecord
from tillit.partners.models import Delivery, DeliveryState, Partner
from tillit.rights import actions, export
from tillit.subjects.confirmation import confirmation_token
from tillit.subjects.models import Subject
from tillit.vault.models import Envelope

# The task worker manages its own connections: outside a test transaction.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.promise("P33")]

RECEIVED = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Case:
    country: str
    law: str
    name_en: str
    name_nb: str
    right_en: str  # one of the rights, as the law names it
    deadline_en: str
    deadline_nb: str
    authority: str  # a part of the authority's name or address that needs no escaping
    authority_url: str
    due: datetime  # an access request received at RECEIVED


CASES = [
    Case("NO", "gdpr_no", "the Norwegian Personal Data Act", "personopplysningsloven",
         "Access (Art. 15)", "within 1 month", "innen 1 måned", "Datatilsynet",
         "https://www.datatilsynet.no", datetime(2026, 2, 28, 12, 0, tzinfo=UTC)),
    Case("SE", "gdpr", "the General Data Protection Regulation (GDPR)",
         "personvernforordningen (GDPR)", "Data portability (Art. 20)", "within 1 month",
         "innen 1 måned", "Integritetsskyddsmyndigheten", "https://www.imy.se",
         datetime(2026, 2, 28, 12, 0, tzinfo=UTC)),
    Case("GB", "uk_gdpr", "the UK GDPR and the Data Protection Act 2018",
         "britisk personvernlovgivning", "Erasure (Art. 17)", "within 1 month", "innen 1 måned",
         "Wycliffe House, Water Lane, Wilmslow", "https://ico.org.uk",
         datetime(2026, 2, 28, 12, 0, tzinfo=UTC)),
    Case("US-CA", "ccpa", "the California Consumer Privacy Act (CCPA)",
         "California Consumer Privacy Act (CCPA), endret ved",
         "Right to opt out of the sale or sharing",
         "within 45 days", "innen 45 dager", "California Privacy Protection Agency",
         "https://cppa.ca.gov", datetime(2026, 3, 17, 12, 0, tzinfo=UTC)),
    Case("BR", "lgpd", "General Personal Data Protection Law (LGPD)",
         "den brasilianske personvernloven (LGPD)", "Access (Art. 18 II)", "within 15 days",
         "innen 15 dager", "Autoridade Nacional de Prote", "https://www.gov.br/anpd",
         datetime(2026, 2, 15, 12, 0, tzinfo=UTC)),
    Case("CH", "nfadp", "the Swiss Federal Act on Data Protection (nFADP)",
         "den sveitsiske personvernloven", "Access (Art. 25)", "within 30 days", "innen 30 dager",
         "Feldeggweg 1, 3003 Bern", "https://www.edoeb.admin.ch",
         datetime(2026, 3, 2, 12, 0, tzinfo=UTC)),
]  # fmt: skip


def resident(client, country: str, email: str, gpc: bool = False, **form: str) -> Subject:
    """A person living in `country` signs up (without a phone), confirms, and is referred; the
    partner took the lead."""
    if not Partner.objects.filter(slug=f"broker-{country.lower()}").exists():
        make_partner(slug=f"broker-{country.lower()}", countries=[country])
    fields = {"name": "Alex Example", "email": email, "phone": "", "country": country,
              "consent_partner": "on", **form}  # fmt: skip
    extra = {"HTTP_SEC_GPC": "1"} if gpc else {}
    assert client.post("/en/", fields, **extra).status_code == 302
    subject = Subject.objects.order_by("-created_at").first()
    assert subject.country == country
    client.post(f"/confirm/{confirmation_token(subject)}/")
    drain_tasks()
    return subject


def delivered() -> None:
    lead = Delivery.objects.get().envelope_id
    Delivery.objects.update(state=DeliveryState.DELIVERED, envelope=None, delivered_at=RECEIVED)
    Envelope.objects.filter(id=lead).shred()
    mail.outbox.clear()


def section(page: str, law: str) -> str:
    """The part of a page that words one law (rights/_law.html)."""
    start = page.index(f'data-law="{law}"')
    return page[start : page.index("</div>", start)]


@pytest.mark.parametrize("case", CASES, ids=[c.country for c in CASES])
def test_a_persons_law_reaches_them_everywhere_they_look(client, case):
    resident(client, case.country, "alex@example.com")
    delivered()

    # The privacy centre, in English and in Norwegian: the law's rights, deadline, authority.
    centre = section(client.get("/en/privacy/").content.decode(), case.law)
    assert case.right_en in centre and case.deadline_en in centre
    assert case.authority in centre and f'href="{case.authority_url}"' in centre
    norsk = client.get("/privacy/").content.decode()
    assert case.name_nb in norsk and case.deadline_nb in section(norsk, case.law)

    # The request: due by the law's count, and its page and e-mail name the person's law.
    with time_machine.travel(RECEIVED, tick=False):
        request = requested(client, "access", "alex@example.com")
    assert request.due_at == case.due
    done = client.get(f"/en/privacy/requests/{request.id}/").content.decode()
    assert case.name_en in done and case.deadline_en in section(done, case.law)
    assert case.authority in section(done, case.law)
    drain_tasks()
    [received] = [m for m in mail.outbox if request.reference in m.subject]
    assert case.authority_url in received.body
    assert case.name_nb in received.body  # the request was made on the Norwegian page

    # The answer: the export's facts and its readable page.
    archive = zipfile.ZipFile(io.BytesIO(export.build_zip(request, [])))
    facts = json.loads(archive.read("data.json"))["facts"]
    assert facts["law"]["authority"]["url"] == case.authority_url
    assert case.name_nb in facts["law"]["law"]
    # Every right of the law, as the law names it in the person's language (nb here).
    named = [label["nb"] for label in datamap.load().laws[case.law].rights.values()]
    assert named and sorted(r["name"] for r in facts["law"]["rights"]) == sorted(named)
    page = archive.read("index.html").decode()
    assert case.name_nb in page and case.deadline_nb in page
    assert all(label in page for label in named)

    # The policy page names the law, with its rights, deadline and authority.
    policy = section(client.get("/en/personvern/").content.decode(), case.law)
    assert case.right_en in policy and case.deadline_en in policy and case.authority in policy


def test_the_consent_receipt_names_the_persons_law(client):
    resident(client, "GB", "alex@example.com")
    receipt_id = ConsentRecord.objects.values_list("receipt_id", flat=True).first()
    receipt = client.get(f"/en/receipt/{receipt_id}.json").json()
    assert (
        receipt["processing"]["jurisdiction"] == "the UK GDPR and the Data Protection Act 2018; GB"
    )
    assert receipt["processing"]["authority_party"] == "Information Commissioner's Office (ICO)"


def test_california_allows_one_45_day_extension_and_opt_outs_within_15_days(client):
    resident(client, "US-CA", "alex@example.com")
    delivered()
    with time_machine.travel(RECEIVED, tick=False):
        request = requested(client, "access", "alex@example.com")
        extended = actions.extend(request, "Our partner needs more time.", "staff:1")
    assert extended.extended_until == RECEIVED + timedelta(days=90)
    centre = section(client.get("/en/privacy/").content.decode(), "ccpa")
    assert "up to 45 days more" in centre and "authorised agent" in centre
    assert (
        "Right to opt out of the sale or sharing" in centre and "answered within 15 days" in centre
    )
    assert "Global Privacy Control" in centre


def test_brazil_allows_no_extension(client):
    resident(client, "BR", "alex@example.com")
    delivered()
    request = requested(client, "access", "alex@example.com")
    with translation.override("en"), pytest.raises(actions.CannotExtend, match="no extension"):
        actions.extend(request, "Our partner needs more time.", "staff:1")
    assert "more;" not in section(client.get("/en/privacy/").content.decode(), "lgpd")


def test_a_californian_opt_out_of_sale_is_due_in_15_days(client):
    resident(client, "US-CA", "alex@example.com")
    delivered()
    with time_machine.travel(RECEIVED, tick=False):
        request = requested(client, "withdraw", "alex@example.com")
    assert request.due_at == RECEIVED + timedelta(days=15)


def test_a_californian_lead_reaches_the_partner_with_its_country(client):
    """The partner's schema takes ISO 3166-1 countries; the state stays with tillit."""
    subject = resident(client, "US-CA", "alex@example.com")
    assert subject.country == "US-CA"
    assert Delivery.objects.get().envelope.open()["country"].reveal() == "US"
    assert ">California (USA)<" in client.get("/en/").content.decode()


def test_global_privacy_control_is_a_californians_opt_out_of_sale_and_sharing(client):
    """The CCPA takes GPC as the opt-out of sale or sharing: a Californian signing up with it
    is recorded as refusing what the data map marks as a sale or sharing (partners' content),
    by GPC; a Norwegian with the same browser signal, or a Californian without it, is not."""
    resident(client, "US-CA", "cal@example.com", gpc=True)
    resident(client, "NO", "kari@example.com", gpc=True)
    without = resident(client, "US-CA", "nogpc@example.com")
    refused = ConsentRecord.objects.filter(purpose="partner_content").select_related("subject")
    assert [(r.subject.country, r.action, r.method) for r in refused] == [
        ("US-CA", "refused", "gpc")
    ]
    assert not ConsentRecord.objects.filter(subject=without, purpose="partner_content").exists()
    referral = ConsentRecord.objects.filter(subject__country="US-CA", purpose="referral")
    assert {r.action for r in referral} == {"given"}  # the referral asked for is no sale


def test_gpc_overrides_a_ticked_box_for_a_sale_only_under_a_law_that_says_so(
    client, tmp_path, settings
):
    """An operator whose offers come from partners marks them a sale: a Californian's ticked
    box with GPC on does not count; a Swede's does."""
    text = Path(settings.OPERATOR_FILE).read_text(encoding="utf-8")
    marked = text.replace(
        'field = "consent_offers"', 'field = "consent_offers"\nsale_or_sharing = true'
    )
    assert marked != text
    changed = tmp_path / "operator.toml"
    changed.write_text(marked, encoding="utf-8")
    settings.OPERATOR_FILE = changed
    resident(client, "US-CA", "cal@example.com", gpc=True, consent_offers="on")
    resident(client, "SE", "sven@example.com", gpc=True, consent_offers="on")
    offers = {
        r.subject.country: (r.action, r.method)
        for r in ConsentRecord.objects.filter(purpose="offers").select_related("subject")
    }
    assert offers == {"US-CA": ("refused", "gpc"), "SE": ("given", "signup-form")}


def _data_map(tmp_path, settings, change):
    text = Path(settings.OPERATOR_FILE).read_text(encoding="utf-8")
    changed = tmp_path / "operator.toml"
    changed.write_text(change(text), encoding="utf-8")
    settings.OPERATOR_FILE = changed
    return changed.read_text(encoding="utf-8")


def test_tillit_check_fails_when_a_served_country_has_no_law(tmp_path, settings):
    assert "tillit.E011" not in {e.id for e in run_checks()}
    _data_map(tmp_path, settings, lambda t: t.replace('"BR", "US-CA"]', '"BR", "US-CA", "JP"]'))
    [error] = [e for e in run_checks() if e.id == "tillit.E011"]
    assert "JP is served, but no law" in error.msg and "[laws.NAME]" in error.hint


def test_a_bad_law_is_named_with_its_table_and_line(tmp_path, settings):
    text = _data_map(
        tmp_path,
        settings,
        lambda t: t.replace("deadline = { days = 15 }", "deadline = { weeks = 2 }").replace(
            'countries = ["CH"]', 'countries = ["CH", "BR"]'
        ),
    )
    found = dict(datamap.problems())
    line = next(n for n, s in enumerate(text.splitlines(), 1) if "weeks = 2" in s)
    assert "laws.lgpd.deadline must be" in found[line]
    assert any("BR is under laws.lgpd too" in msg for msg in found.values())
    assert "tillit.E010" in {e.id for e in run_checks()}
