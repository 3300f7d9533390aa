import uuid
from collections import Counter

import pytest

from tests.conftest import make_partner
from tillit.partners import routing
from tillit.partners.models import Delivery
from tillit.subjects.models import Subject

pytestmark = pytest.mark.django_db


@pytest.mark.promise("P18")
def test_only_partners_with_a_dpa_and_compliance_on_record_receive_anything():
    make_partner(slug="no-dpa", dpa_signed_on=None)
    make_partner(slug="no-attestation", compliance_attested_on=None)
    make_partner(slug="inactive", active=False)
    assert routing.assign(uuid.uuid4(), "NO") is None
    good = make_partner(slug="good")
    assert routing.assign(uuid.uuid4(), "NO") == good


def test_it_routes_by_country():
    make_partner(slug="norway", countries=["NO"])
    sweden = make_partner(slug="sweden", countries=["SE"])
    assert all(routing.assign(uuid.uuid4(), "SE") == sweden for _ in range(20))


def test_the_choice_follows_the_weights_and_is_stable_for_a_subject():
    make_partner(slug="heavy", weight=300)
    make_partner(slug="light", weight=100)
    ids = [uuid.uuid4() for _ in range(2000)]
    shares = Counter(routing.assign(i, "NO").slug for i in ids)
    assert 0.70 < shares["heavy"] / 2000 < 0.80
    assert all(routing.assign(i, "NO") == routing.assign(i, "NO") for i in ids[:50])


def test_a_partner_at_its_daily_cap_gets_no_more():
    capped = make_partner(slug="capped", daily_cap=1)
    subject = Subject.objects.create(email_index="x", country="NO", policy_version="1")
    Delivery.objects.create(subject=subject, partner=capped)
    assert routing.assign(uuid.uuid4(), "NO") is None
    other = make_partner(slug="other")
    assert routing.assign(uuid.uuid4(), "NO") == other
