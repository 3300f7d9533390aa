"""Tampered, replayed and wrongly signed messages are refused, in both directions.

tillit → partner: leads sent over HTTP to the running reference partner.
partner → tillit: tillit's own sending code (partners/delivery.py) against a small partner
server of this test's own on 127.0.0.1, which answers with the receipt each case needs.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.conftest import make_partner
from tests.e2e.conftest import partner_leads
from tests.processes import ReferencePartner
from tillit.partners import signing

SHARED = "shared-secret-for-tests"


# --- tillit → partner: the reference partner refuses what tillit did not sign ----------------


def lead_body(lead_id: str, name: str = "Kari Nordmann") -> bytes:
    lead = {
        "lead_id": lead_id,
        "subject_ref": str(uuid.uuid4()),
        "name": name,
        "email": "kari@example.com",
        "phone": "+4791234567",
        "country": "NO",
        "language": "nb",
        "confirmed_at": "2026-11-25T10:00:00+00:00",
        "consents": [{"purpose": "referral", "action": "given"}],
    }
    return json.dumps(lead, sort_keys=True, separators=(",", ":")).encode()


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Iterator[ReferencePartner]:
    """One reference partner for this module's tests (each uses lead_ids of its own)."""
    partner = ReferencePartner(tmp_path_factory.mktemp("partner"))
    partner.start()
    try:
        yield partner
    finally:
        partner.stop()


@pytest.fixture
def post_lead(reference) -> Iterator[Callable[..., httpx.Response]]:
    client = httpx.Client(base_url=reference.url, timeout=10)

    def post(body: bytes, signature: str | None, lead_id: str) -> httpx.Response:
        headers = {"Content-Type": "application/json", signing.IDEMPOTENCY_HEADER: lead_id}
        if signature is not None:
            headers[signing.HEADER] = signature
        return client.post("/leads", content=body, headers=headers)

    yield post
    client.close()


def answer(reference, response: httpx.Response) -> dict:
    """The partner's answer, after checking that the partner signed it as a receipt."""
    signing.verify(
        reference.secret.encode(),
        response.content,
        response.headers.get(signing.HEADER),
        purpose="receipt",
    )
    return response.json()


@pytest.mark.e2e
@pytest.mark.timeout(60)
@pytest.mark.promise("P17")
def test_the_partner_refuses_leads_that_are_not_authentic_or_not_fresh(reference, post_lead):
    secret = reference.secret.encode()

    def refused(body: bytes, signature: str | None, lead_id: str, why: str) -> None:
        response = post_lead(body, signature, lead_id)
        assert response.status_code == 401, response.text
        assert why in answer(reference, response)["reason"]

    lead_id = str(uuid.uuid4())
    body = lead_body(lead_id)
    # Signed with another secret.
    refused(
        body,
        signing.sign(b"not-the-shared-secret", body, purpose="lead"),
        lead_id,
        "does not match",
    )
    # Changed after signing.
    signature = signing.sign(secret, body, purpose="lead")
    refused(body.replace(b"Kari Nordmann", b"Kari Nordmenn"), signature, lead_id, "does not match")
    # A receipt's signature reflected back as a lead.
    refused(body, signing.sign(secret, body, purpose="receipt"), lead_id, "does not match")
    # A replay: correctly signed, but more than 5 minutes ago.
    old = int(time.time()) - signing.TOLERANCE_SECONDS - 60
    refused(body, signing.sign(secret, body, purpose="lead", timestamp=old), lead_id, "tolerance")
    # Not signed at all.
    refused(body, None, lead_id, "missing")
    assert lead_id not in [x["lead_id"] for x in partner_leads(reference)], (
        "the partner stored a refused lead"
    )

    # The control: the same lead, signed now with the shared secret, is accepted.
    first = post_lead(body, signing.sign(secret, body, purpose="lead"), lead_id)
    assert first.status_code == 201, first.text
    receipt = answer(reference, first)
    assert receipt["lead_id"] == lead_id and receipt["status"] == "accepted"


@pytest.mark.e2e
@pytest.mark.timeout(60)
@pytest.mark.promise("P17")
def test_a_repeated_lead_is_stored_once_and_a_changed_one_is_refused(reference, post_lead):
    secret = reference.secret.encode()
    lead_id = str(uuid.uuid4())
    body = lead_body(lead_id)

    first = post_lead(body, signing.sign(secret, body, purpose="lead"), lead_id)
    assert first.status_code == 201, first.text
    # The same lead again (a retry after a lost answer), freshly signed: the same receipt.
    time.sleep(1.1)  # a new signature timestamp, as a real retry would have
    again = post_lead(body, signing.sign(secret, body, purpose="lead"), lead_id)
    assert again.status_code == 200, again.text
    assert (
        answer(reference, again)["partner_lead_id"] == (answer(reference, first)["partner_lead_id"])
    )
    # The same lead_id with another body: refused, and the stored lead is unchanged.
    changed = lead_body(lead_id, name="Ola Nordmann")
    conflict = post_lead(changed, signing.sign(secret, changed, purpose="lead"), lead_id)
    assert conflict.status_code == 409, conflict.text
    assert answer(reference, conflict)["status"] == "refused"

    stored = [x["name"] for x in partner_leads(reference) if x["lead_id"] == lead_id]
    assert stored == ["Kari Nordmann"]


# --- partner → tillit: tillit refuses receipts that are not authentic or not fresh -----------


class FakePartner:
    """A partner server that checks tillit's signature and answers as `mode` says."""

    def __init__(self) -> None:
        self.mode = "good"
        self.received: list[tuple[str, bool]] = []  # (Idempotency-Key, tillit's signature ok)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    signing.verify(
                        SHARED.encode(), body, self.headers.get(signing.HEADER), purpose="lead"
                    )
                    authentic = True
                except signing.SignatureError:
                    authentic = False
                lead_id = self.headers.get(signing.IDEMPOTENCY_HEADER, "")
                fake.received.append((lead_id, authentic))
                payload, header = fake.receipt(lead_id)
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                if header is not None:
                    self.send_header(signing.HEADER, header)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def receipt(self, lead_id: str) -> tuple[bytes, str | None]:
        mode, secret = self.mode, SHARED.encode()
        data = {
            "lead_id": lead_id,
            "partner_lead_id": "p-1",
            "status": "accepted",
            "received_at": "2026-11-25T10:00:00+00:00",
        }
        if mode == "other-lead":
            data["lead_id"] = str(uuid.uuid4())
        body = json.dumps(data, sort_keys=True).encode()
        if mode == "unsigned":
            return body, None
        if mode == "wrong-secret":
            secret = b"not-the-shared-secret"
        purpose = "lead" if mode == "reflected" else "receipt"
        stale = int(time.time()) - signing.TOLERANCE_SECONDS - 60
        header = signing.sign(
            secret, body, purpose=purpose, timestamp=stale if mode == "stale" else None
        )
        if mode == "tampered":
            body = body.replace(b'"p-1"', b'"p-2"')
        return body, header


@pytest.fixture
def fake_partner() -> Iterator[FakePartner]:
    fake = FakePartner()
    fake.thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()


@pytest.fixture
def delivery(db, fake_partner):
    """A released lead for a partner whose endpoint is the fake partner."""
    from django.utils import timezone

    from tillit.partners.models import Delivery, DeliveryState
    from tillit.subjects.models import State, Subject
    from tillit.vault.models import Envelope, Purpose
    from tillit.vault.pii import Pii

    partner = make_partner(endpoint=fake_partner.url, secret=SHARED)
    subject = Subject.objects.create(
        email_index="0" * 64,
        country="NO",
        partner=partner,
        state=State.ACTIVE,
        policy_version="test",
    )
    envelope = Envelope.objects.seal(
        {
            "name": Pii("Kari Nordmann"),
            "email": Pii("kari@example.com"),
            "phone": None,
            "country": "NO",
            "language": "nb",
        },
        Purpose.LEAD,
    )
    return Delivery.objects.create(
        subject=subject,
        partner=partner,
        envelope=envelope,
        state=DeliveryState.PENDING,
        next_attempt_at=timezone.now(),
        released_at=timezone.now(),
    )


@pytest.mark.timeout(60)
@pytest.mark.promise("P17")
@pytest.mark.parametrize(
    ("mode", "why"),
    [
        ("wrong-secret", "receipt refused: signature does not match"),
        ("tampered", "receipt refused: signature does not match"),
        ("reflected", "receipt refused: signature does not match"),
        ("stale", "receipt refused: signature timestamp outside the tolerance"),
        ("unsigned", "receipt refused: missing signature"),
        ("other-lead", "receipt refused: it is for another lead"),
    ],
)
def test_tillit_refuses_receipts_that_are_not_authentic_fresh_or_for_this_lead(
    fake_partner, delivery, mode, why
):
    from tillit.partners.delivery import send
    from tillit.partners.posting import Poster

    body = b'{"lead_id":"%s"}' % str(delivery.id).encode()
    secret = delivery.partner.secret()
    with Poster() as client:
        fake_partner.mode = "good"
        control = send(client, delivery, body, secret)
        fake_partner.mode = mode
        outcome = send(client, delivery, body, secret)
    # The control: a proper receipt from the same server is taken.
    assert control.ok and control.partner_reference == "p-1", control.error
    assert not outcome.ok
    assert outcome.error == why
    assert outcome.partner_reference == "" and outcome.receipt_hash == ""
    # tillit signed both requests correctly and named the lead in Idempotency-Key.
    assert fake_partner.received == [(str(delivery.id), True)] * 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
@pytest.mark.promise("P17")
def test_a_refused_receipt_leaves_the_lead_queued_and_sealed(fake_partner, delivery):
    """What staff see after a stale receipt: not delivered, the reason, the lead still sealed
    for the next attempt."""
    from tillit.partners.delivery import deliver_batch
    from tillit.partners.models import Delivery, DeliveryState
    from tillit.partners.posting import Poster
    from tillit.vault.models import Envelope

    fake_partner.mode = "stale"
    with Poster() as client:
        assert deliver_batch(client) == 1
    after = Delivery.objects.get(id=delivery.id)
    assert after.state == DeliveryState.PENDING
    assert after.last_error == "receipt refused: signature timestamp outside the tolerance"
    assert after.delivered_at is None and after.partner_reference == ""
    assert Envelope.objects.filter(id=delivery.envelope_id).exists()
    assert [authentic for _, authentic in fake_partner.received] == [True]
