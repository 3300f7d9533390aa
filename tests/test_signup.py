import pytest
from django.db import connection
from django_tasks_db.models import DBTaskResult

from tillit.consent.models import ConsentRecord
from tillit.partners.models import Delivery, DeliveryState
from tillit.subjects.models import Subject
from tillit.vault.models import Envelope, Purpose

pytestmark = pytest.mark.django_db


def post(client, data, path="/"):
    return client.post(path, data)


def everything_stored() -> str:
    """Every value of every row of tillit's own tables, as one string."""
    rows = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608
            rows += [repr(row) for row in cursor.fetchall()]
    return "\n".join(rows)


def nothing_kept() -> bool:
    return (
        not Subject.objects.exists()
        and not Envelope.objects.exclude(purpose=Purpose.PARTNER_SECRET).exists()
    )


@pytest.mark.promise("P3")
def test_the_form_has_the_declared_fields_and_names_the_policy_version(client, partner):
    page = client.get("/").content.decode()
    for name in ("name", "email", "phone", "country", "consent_partner", "consent_offers"):
        assert f'name="{name}"' in page
    assert 'lang="nb"' in page
    assert "2026-11-25" in page  # the policy version of the example data map


def test_english_is_one_click_away(client, partner):
    nb = client.get("/").content.decode()
    assert 'href="/en/"' in nb
    en = client.get("/en/").content.decode()
    assert 'lang="en"' in en and "Sign up" in en


@pytest.mark.promise("P3")
@pytest.mark.promise("P9")
def test_a_sign_up_keeps_nothing_readable(client, partner, visitor):
    response = post(client, visitor)
    assert response.status_code == 302 and response["Location"] == "/sent/"
    subject = Subject.objects.get()
    assert subject.partner == partner and subject.state == "pending"
    stored = everything_stored()
    for value in ("Kari", "Nordmann", "kari@example.com", "91234567", "912 34 567"):
        assert value not in stored
    assert Delivery.objects.get().state == DeliveryState.WAITING
    assert Envelope.objects.filter(purpose=Purpose.LEAD).count() == 1


@pytest.mark.promise("P3")
def test_the_consent_is_recorded_with_its_evidence(client, partner, visitor):
    del visitor["consent_offers"]
    post(client, visitor)
    records = {r.purpose: r for r in ConsentRecord.objects.all()}
    assert records["referral"].action == "given" and records["offers"].action == "refused"
    referral = records["referral"]
    assert referral.policy_version == "2026-11-25" and referral.language == "nb"
    assert referral.method == "signup-form" and len(referral.text_hash) == 64
    assert referral.lawful_basis == "consent"
    assert referral.receipt_id == records["offers"].receipt_id


@pytest.mark.promise("P5")
def test_undeclared_fields_are_dropped(client, partner, visitor):
    post(client, {**visitor, "ssn": "01019912345", "note": "secret-note-value"})
    assert "secret-note-value" not in everything_stored()
    lead = Envelope.objects.get(purpose=Purpose.LEAD).open()
    assert set(lead) == {"name", "email", "phone", "country", "language"}


@pytest.mark.promise("P24")
def test_without_the_referral_consent_nothing_is_kept(client, partner, visitor):
    del visitor["consent_partner"]
    response = post(client, visitor)
    assert response.status_code == 400
    assert "samtykket" in response.content.decode()
    assert nothing_kept()


@pytest.mark.parametrize(
    "field,value,nb,en",
    [
        ("email", "not-an-address", "e-postadresse", "e-mail address"),
        ("phone", "123", "telefonnummer", "phone number"),
        ("name", "x" * 201, "200 tegn", "200 characters"),
        ("name", "12345", "bokstaver", "letters"),
        ("country", "XX", "land fra listen", "country from the list"),
    ],
)
def test_bad_input_gets_a_clear_message_in_both_languages(
    client, partner, visitor, field, value, nb, en
):
    for path, words in (("/", nb), ("/en/", en)):
        response = post(client, {**visitor, field: value}, path)
        assert response.status_code == 400
        assert words in response.content.decode()
    assert nothing_kept()


@pytest.mark.parametrize(
    "name",
    [
        "Ørjan Åsmund Ødegård",
        "李小龍",
        "محمد عبدالله",
        "Zoë O'Brien-Łukasz",
        "مینا محمدی\u200cنژاد",
    ],
)
def test_names_in_any_script_are_accepted(client, partner, visitor, name):
    assert post(client, {**visitor, "name": name}).status_code == 302
    assert Envelope.objects.get(purpose=Purpose.LEAD).open()["name"].reveal() == name


@pytest.mark.promise("P3")
@pytest.mark.parametrize("name", ["Kari\u202eNordmann", "Kari\u2066Nordmann", "Kari\u200bNordmann"])
def test_names_with_bidi_overrides_or_control_characters_are_refused(
    client, partner, visitor, name
):
    response = post(client, {**visitor, "name": name})
    assert response.status_code == 400
    assert "kontrolltegn" in response.content.decode()
    assert nothing_kept()


def test_the_honeypot_keeps_bots_out_quietly(client, partner, visitor):
    response = post(client, {**visitor, "website": "http://spam.invalid"})
    assert response.status_code == 302
    assert nothing_kept()


def test_an_oversized_body_is_refused_and_changes_nothing(client, partner, visitor):
    response = post(client, {**visitor, "name": "x" * 20_000})
    assert response.status_code == 400
    assert not Subject.objects.exists()


def test_too_many_sign_ups_from_one_address_are_refused(client, partner, visitor, settings):
    settings.SIGNUPS_PER_IP_PER_HOUR = 2
    for n in range(2):
        assert post(client, {**visitor, "email": f"p{n}@example.com"}).status_code == 302
    response = post(client, {**visitor, "email": "p3@example.com"})
    assert response.status_code == 429
    assert Subject.objects.count() == 2


def test_a_known_address_gets_the_same_answer_and_the_news_by_e_mail(client, partner, visitor):
    first = post(client, visitor)
    DBTaskResult.objects.all().delete()
    second = post(client, {**visitor, "email": "KARI@example.com", "name": "Someone Else"})
    assert second.status_code == first.status_code == 302
    assert second["Location"] == first["Location"]
    assert Subject.objects.count() == 1
    # The pending person gets the confirmation link again; nothing else changes.
    task = DBTaskResult.objects.get()
    assert task.task_path.endswith("send_confirmation")


def test_no_partner_for_the_country_means_nothing_is_kept(client, partner, visitor):
    response = post(client, {**visitor, "country": "DK", "phone": ""})
    assert response.status_code == 400
    assert "partner" in response.content.decode()
    assert nothing_kept()
