"""Who an offer may reach, and the rules around sending it (P11); the end-to-end path through
the reference partner is in tests/e2e/test_offers.py."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from django.utils import timezone

from tests.conftest import sign_in
from tests.rights_helpers import kari, requested
from tillit.offers import sending
from tillit.offers.models import MessageState, Offer, OfferMessage
from tillit.partners import signing
from tillit.rights.models import RightsRequest

__all__ = ["kari"]  # a fixture, used by name

pytestmark = pytest.mark.django_db(transaction=True)


def an_offer(days: int = 14) -> Offer:
    return Offer.objects.create(
        title_nb="Tilbud",
        title_en="Offer",
        body_nb="Tekst",
        body_en="Text",
        valid_until=timezone.localdate() + dt.timedelta(days=days),
    )


@pytest.mark.promise("P11")
def test_only_active_consent_with_no_restriction_or_objection_counts(client, kari):
    assert list(sending.consenting()) == [kari]
    restriction = requested(client, "restriction")
    assert list(sending.consenting()) == []
    RightsRequest.objects.filter(id=restriction.id).update(state="refused")
    assert list(sending.consenting()) == [kari]  # a refused request changes nothing
    RightsRequest.objects.all().delete()
    requested(client, "stop_offers")
    assert list(sending.consenting()) == []


@pytest.mark.promise("P11")
def test_an_offer_is_sent_once_and_never_after_it_ends(kari):
    offer = an_offer()
    assert sending.launch(offer, "staff:1") == 1
    with pytest.raises(sending.CannotSend):
        sending.launch(offer, "staff:1")
    with pytest.raises(sending.CannotSend):
        sending.launch(an_offer(days=-1), "staff:1")
    assert OfferMessage.objects.count() == 1


@pytest.mark.promise("P11")
def test_consent_withdrawn_after_sending_began_stops_the_message(client, kari):
    offer = an_offer()
    sending.launch(offer, "staff:1")
    requested(client, "stop_offers")
    with httpx.Client() as http:
        assert sending.step(http) == 1
    message = OfferMessage.objects.get()
    assert message.state == MessageState.SKIPPED and "withdrawn" in message.last_error


@pytest.mark.promise("P11")
def test_the_opt_out_link_is_checked_and_works_once(client, kari):
    assert client.get("/offers/stop/not-a-token/").status_code == 400
    link = f"/offers/stop/{sending.opt_out_token(kari.id)}/"
    page = client.get(link)
    assert page.status_code == 200 and "<button" in page.content.decode()
    first = client.post(link).content.decode()
    assert "trukket tilbake" in first
    assert RightsRequest.objects.get().kind == "stop_offers"  # the partner is told
    again = client.post(link).content.decode()
    assert "allerede" in again and RightsRequest.objects.count() == 1


@pytest.mark.promise("P11")
@pytest.mark.promise("P21")
def test_a_sent_offer_cannot_be_changed(client, kari, privacy_officer):
    offer = an_offer()
    sign_in(client, privacy_officer)
    url = f"/console/offers/offer/{offer.pk}/change/"
    assert "Save" in client.get(url).content.decode()
    client.post("/console/offers/offer/", {"action": "send_offer", "_selected_action": [offer.pk]})
    offer.refresh_from_db()
    assert offer.sent_at and offer.recipients == 1
    client.post(url, {"title_nb": "Endret", "title_en": "Changed", "body_nb": "x",
                      "body_en": "x", "valid_until": offer.valid_until.isoformat()})  # fmt: skip
    offer.refresh_from_db()
    assert offer.title_en == "Offer"


class GonePartner(BaseHTTPRequestHandler):
    """A partner endpoint that answers every message with 404 "no such person", signed as the
    protocol says (with the shared secret, purpose message-receipt) or, when `signed` is off,
    as a proxy's error page or anyone on the path would: unsigned."""

    signed = True
    secrets: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"status": "refused", "reason": "no such person"}).encode()
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        if self.signed:
            header = signing.sign(self.secrets, body, purpose="message-receipt")
            self.send_header(signing.HEADER, header)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.promise("P11")
@pytest.mark.parametrize("signed", [True, False])
def test_only_a_signed_no_such_person_ends_a_message(kari, signed):
    """A 404 or 410 ends a message for good (the partner holds nobody by that reference); one
    the partner did not sign is a bad answer like any other, and the message waits to be sent
    again."""
    partner = kari.deliveries.get().partner
    handler = type("Handler", (GonePartner,), {"signed": signed, "secrets": partner.secrets()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        partner.endpoint = f"http://127.0.0.1:{server.server_port}"
        partner.save(update_fields=["endpoint"])
        sending.launch(an_offer(), "staff:1")
        with httpx.Client() as http:
            assert sending.step(http) == 1
    finally:
        server.shutdown()
        server.server_close()
    message = OfferMessage.objects.get()
    if signed:
        assert message.state == MessageState.SKIPPED and "no longer holds" in message.last_error
    else:
        assert message.state == MessageState.PENDING and "receipt refused" in message.last_error
