import datetime as dt
import re

import pytest
import time_machine
from django.core import signing
from django_tasks_db.models import DBTaskResult

from tillit.partners.models import Delivery, DeliveryState
from tillit.subjects.confirmation import CONFIRM_SALT, confirmation_token
from tillit.subjects.models import Subject
from tillit.worker.loop import Loop

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_up(client, partner, visitor):
    client.post("/", visitor)
    return Subject.objects.get()


@pytest.mark.django_db(transaction=True)
def test_the_confirmation_e_mail_goes_to_the_address_with_the_link(signed_up, mailoutbox):
    Loop().run_tasks()
    assert DBTaskResult.objects.get().status == "SUCCESSFUL"
    [message] = mailoutbox
    assert message.to == ["kari@example.com"]
    # The link carries a signed, timestamped token: it names this person (the token the test
    # would make itself may differ by the second it was made in).
    [token] = re.findall(r"/confirm/([^/\s]+)/", message.body)
    assert signing.loads(token, salt=CONFIRM_SALT) == str(signed_up.id)
    # The job's stored arguments hold an id, never the address.
    assert "kari" not in repr(DBTaskResult.objects.values().get())


def test_following_the_link_shows_a_button_and_changes_nothing(client, signed_up):
    response = client.get(f"/confirm/{confirmation_token(signed_up)}/")
    assert response.status_code == 200 and b'method="post"' in response.content
    assert Subject.objects.get().state == "pending"


@pytest.mark.promise("P19")
@pytest.mark.promise("P17")
def test_confirming_activates_names_the_partner_and_releases_the_lead(client, signed_up, partner):
    response = client.post(f"/confirm/{confirmation_token(signed_up)}/")
    page = response.content.decode()
    assert response.status_code == 200
    assert partner.name in page and partner.privacy_policy_url in page
    assert "/receipt/" in page and ".json" in page
    subject = Subject.objects.get()
    assert subject.state == "active" and subject.confirmed_at
    delivery = Delivery.objects.get()
    assert delivery.state == DeliveryState.PENDING and delivery.released_at


def test_confirming_twice_is_harmless(client, signed_up):
    url = f"/confirm/{confirmation_token(signed_up)}/"
    client.post(url)
    assert client.post(url).status_code == 200
    assert Delivery.objects.get().state == DeliveryState.PENDING


def test_a_wrong_link_is_refused(client, signed_up):
    response = client.post("/confirm/not-a-token/")
    assert response.status_code == 400
    assert Subject.objects.get().state == "pending"


def test_a_link_older_than_48_hours_is_refused(client, signed_up):
    token = confirmation_token(signed_up)
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(hours=49)):
        assert client.post(f"/confirm/{token}/").status_code == 400
    assert Subject.objects.get().state == "pending"
