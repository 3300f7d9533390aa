"""The partner library's protocol, through Partner.handle with a MemoryStore: what tillit sends,
what a partner built on the library answers."""

import json
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from tillit_partner import MemoryStore, Partner, Request, signing

SECRET, OLD = b"partner-secret", b"old-secret"


def lead_body(**changes):
    lead = {
        "lead_id": str(uuid.uuid4()),
        "subject_ref": uuid.uuid4().hex,
        "name": "Partner Check",
        "email": "someone@example.com",
        "phone": None,
        "country": "NO",
        "language": "nb",
        "confirmed_at": "2026-12-07T10:00:00+00:00",
        "consents": [
            {"purpose": "referral", "action": "given", "at": "2026-12-07T10:00:00+00:00"},
            {"purpose": "offers", "action": "given", "at": "2026-12-07T10:00:00+00:00"},
        ],
        **changes,
    }
    return json.dumps(lead, sort_keys=True).encode()


def signed(path, body=b"", *, purpose, method="POST", secret=SECRET, key=None, **headers):
    header = signing.sign(secret, body if method == "POST" else f"{method} {path}".encode(),
                          purpose=purpose)  # fmt: skip
    all_headers = {signing.HEADER: header, **headers}
    if key is not None:
        all_headers[signing.IDEMPOTENCY_HEADER] = key
    return Request(method, path, body, all_headers, base_url="https://partner.example/tillit")


def send_lead(partner, body, **kwargs):
    key = json.loads(body)["lead_id"] if body.startswith(b"{") else "x"
    return partner.handle(signed("/leads", body, purpose="lead", key=key, **kwargs))


def answer_of(response, purpose):
    signing.verify(SECRET, response.body, response.headers[signing.HEADER], purpose=purpose)
    return json.loads(response.body)


@pytest.fixture
def calls():
    return []


@pytest.fixture
def partner(calls):
    return Partner(SECRET, MemoryStore(), callback=lambda url, body, header: calls.append(
        (url, body, header)))  # fmt: skip


# Leads


@pytest.mark.promise("P17")
def test_a_new_lead_gets_a_signed_receipt_and_a_repeat_the_same_one(partner):
    body = lead_body()
    first = send_lead(partner, body)
    again = send_lead(partner, body)
    assert (first.status, again.status) == (201, 200)
    receipt = answer_of(first, "receipt")
    assert receipt == answer_of(again, "receipt")
    assert receipt["lead_id"] == json.loads(body)["lead_id"]
    assert receipt["status"] == "accepted"
    assert len(partner.store.leads(json.loads(body)["subject_ref"])) == 1


@pytest.mark.promise("P17")
def test_racing_deliveries_of_one_lead_store_it_once(partner):
    body = lead_body()
    answers = []
    threads = [
        threading.Thread(target=lambda: answers.append(send_lead(partner, body))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status for a in answers) == [200] * 7 + [201]
    assert len({answer_of(a, "receipt")["partner_lead_id"] for a in answers}) == 1


@pytest.mark.promise("P17")
def test_the_same_lead_id_with_another_body_is_refused(partner):
    body = lead_body()
    send_lead(partner, body)
    other = json.loads(body) | {"name": "Someone Else"}
    answer = send_lead(partner, json.dumps(other).encode())
    assert answer.status == 409
    assert "different body" in answer_of(answer, "receipt")["reason"]


@pytest.mark.promise("P17")
@pytest.mark.parametrize(
    "how", ["unsigned", "wrong secret", "altered", "stale", "future", "reflected"]
)
def test_a_lead_not_signed_now_by_tillit_is_refused_and_nothing_is_kept(partner, how):
    body = lead_body()
    key = json.loads(body)["lead_id"]
    request = signed("/leads", body, purpose="receipt" if how == "reflected" else "lead", key=key,
                     secret=b"guess" if how == "wrong secret" else SECRET)  # fmt: skip
    headers = dict(request.headers)
    if how == "unsigned":
        del headers[signing.HEADER]
    if how in ("stale", "future"):
        t = int(time.time()) + (-301 if how == "stale" else 301)
        headers[signing.HEADER] = signing.sign(SECRET, body, purpose="lead", timestamp=t)
    sent = body.replace(b"Partner Check", b"Partner Chuck") if how == "altered" else body
    answer = partner.handle(Request("POST", "/leads", sent, headers))
    assert answer.status == 401
    assert answer_of(answer, "receipt")["status"] == "refused"
    assert send_lead(partner, body).status == 201


@pytest.mark.promise("P17")
def test_during_a_rotation_both_secrets_are_good_and_answers_carry_both(calls):
    partner = Partner([SECRET, OLD], MemoryStore(), callback=lambda *a: None)
    for secret in (SECRET, OLD):
        answer = send_lead(partner, lead_body(), secret=secret)
        assert answer.status == 201
        for key in (SECRET, OLD):
            signing.verify(key, answer.body, answer.headers[signing.HEADER], purpose="receipt")


@pytest.mark.promise("P17")
def test_the_secret_may_be_a_function_read_at_every_request():
    held = [SECRET]
    partner = Partner(lambda: held, MemoryStore())
    assert send_lead(partner, lead_body()).status == 201
    held[:] = [b"after-rotation"]
    assert send_lead(partner, lead_body()).status == 401
    assert send_lead(partner, lead_body(), secret=b"after-rotation").status == 201


@pytest.mark.promise("P17")
@pytest.mark.parametrize(
    ("body", "key", "status", "reason"),
    [
        (b"not json", "x", 400, "not JSON"),
        (b"[1]", "x", 400, "not a JSON object"),
        (lead_body(lead_id="nope"), "nope", 400, "lead_id is not a UUID"),
        (lead_body(name=""), None, 422, "missing: name"),
        (lead_body(consents=["given"]), None, 422, "wrong type: consents"),
        (lead_body(phone=4791234567), None, 422, "wrong type: phone"),
        (lead_body(test="yes"), None, 422, "wrong type: test"),
        (lead_body(), "another-key", 400, "Idempotency-Key must equal lead_id"),
    ],
)
def test_a_body_that_is_not_a_lead_gets_a_signed_refusal(partner, body, key, status, reason):
    if key is None:
        key = json.loads(body)["lead_id"]
    answer = partner.handle(signed("/leads", body, purpose="lead", key=key))
    assert answer.status == status
    refusal = answer_of(answer, "receipt")
    assert reason in refusal["reason"]
    assert "Partner Check" not in refusal["reason"]


@pytest.mark.promise("P17")
def test_a_test_lead_is_marked_so(partner):
    body = lead_body(test=True)
    assert send_lead(partner, body).status == 201
    (stored,) = partner.store.leads(json.loads(body)["subject_ref"])
    assert stored.lead.test is True


# Messages


def message(subject_ref, kind="offer", message_id=None):
    return json.dumps(
        {
            "message_id": message_id or str(uuid.uuid4()),
            "subject_ref": subject_ref,
            "kind": kind,
            "language": "nb",
            "title": "An offer",
            "text": "Text",
            "valid_until": "2026-12-31",
            "opt_out_url": "https://tillit.example/opt-out/x" if kind == "offer" else "",
        }
    ).encode()


def send_message(partner, body):
    return partner.handle(signed("/messages", body, purpose="message"))


@pytest.mark.promise("P31")
def test_a_message_is_delivered_once_and_refused_for_nobody(partner):
    ref = json.loads(lead := lead_body())["subject_ref"]
    send_lead(partner, lead)
    body = message(ref)
    first, again = send_message(partner, body), send_message(partner, body)
    assert (first.status, again.status) == (201, 200)
    assert answer_of(first, "message-receipt")["status"] == "delivered"
    assert len(partner.store.messages) == 1
    assert send_message(partner, message(uuid.uuid4().hex)).status == 404


# Rights requests


def dsr(kind, subject_ref, request_id=None, changes=None):
    extension = {"tillit_request_type": kind, **({"changes": changes} if changes else {})}
    return json.dumps(
        {
            "regulation": "gdpr",
            "subject_request_id": request_id or str(uuid.uuid4()),
            "subject_request_type": kind if kind in ("access", "portability", "erasure")
            else "extension",
            "submitted_time": "2026-12-07T10:00:00+00:00",
            "subject_identities": [{"identity_type": "controller_customer_id",
                                    "identity_value": subject_ref, "identity_format": "raw"}],
            "api_version": "2.0",
            "status_callback_urls": ["https://tillit.example/partners/demo/opendsr/callback"],
            "extensions": {"tillit": extension},
        }
    ).encode()  # fmt: skip


def ask(partner, kind, ref, **kwargs):
    body = dsr(kind, ref, **kwargs)
    return partner.handle(signed("/opendsr/v2/requests", body, purpose="dsr"))


def get(partner, path, method="GET"):
    return partner.handle(signed(path, purpose="dsr", method=method))


@pytest.mark.promise("P25")
def test_discovery_is_signed_over_the_path_after_the_endpoint(partner):
    answer = get(partner, "/opendsr/v2/discovery")
    body = answer_of(answer, "dsr-response")
    assert {"identity_type": "controller_customer_id", "identity_format": "raw"} in body[
        "supported_identities"
    ]
    assert "erasure" in body["supported_subject_request_types"]
    # Signed over the full path of a partner mounted under /tillit: not what tillit signs.
    mounted = signing.sign(SECRET, b"GET /tillit/opendsr/v2/discovery", purpose="dsr")
    wrong = Request("GET", "/opendsr/v2/discovery", headers={signing.HEADER: mounted})
    assert partner.handle(wrong).status == 401


@pytest.mark.promise("P25")
@pytest.mark.promise("P28")
def test_access_returns_the_persons_leads_and_no_one_elses(partner, calls):
    mine, other = lead_body(), lead_body()
    send_lead(partner, mine)
    send_lead(partner, other)
    ref = json.loads(mine)["subject_ref"]
    answer = ask(partner, "access", ref)
    assert answer.status == 201
    status = answer_of(answer, "dsr-response")
    assert status["request_status"] == "completed"
    rid = status["subject_request_id"]
    assert status["results_url"] == f"https://partner.example/tillit/opendsr/v2/results/{rid}"
    results = answer_of(get(partner, f"/opendsr/v2/results/{rid}"), "dsr-response")
    assert [r["subject_ref"] for r in results["records"]] == [ref]
    (url, body, header) = calls[0]
    signing.verify(SECRET, body, header, purpose="dsr-callback")
    assert json.loads(body)["status_callback_url"] == url
    assert json.loads(body)["request_status"] == "completed"


@pytest.mark.promise("P29")
def test_erasure_leaves_nothing_of_the_person(partner):
    body = lead_body()
    ref = json.loads(body)["subject_ref"]
    send_lead(partner, body)
    assert send_message(partner, message(ref)).status == 201
    assert ask(partner, "erasure", ref).status == 201
    assert partner.store.leads(ref) == []
    assert partner.store.messages == {}
    records = answer_of(get(partner, f"/opendsr/v2/results/{_id(ask(partner, 'access', ref))}"),
                        "dsr-response")  # fmt: skip
    assert records["records"] == []


def _id(answer):
    return json.loads(answer.body)["subject_request_id"]


@pytest.mark.promise("P26")
def test_rectification_applies_the_correctable_fields_only(partner):
    body = lead_body()
    ref = json.loads(body)["subject_ref"]
    send_lead(partner, body)
    changes = {"name": "Corrected Name", "email": "not@example.com"}
    assert ask(partner, "rectification", ref, changes=changes).status == 201
    (stored,) = partner.store.leads(ref)
    assert stored.lead.name == "Corrected Name"
    assert stored.lead.email == "someone@example.com"


@pytest.mark.promise("P27")
@pytest.mark.promise("P31")
@pytest.mark.promise("P32")
@pytest.mark.parametrize("kind", ["stop_offers", "withdraw", "restriction", "objection"])
def test_after_each_of_these_rights_no_offer_but_still_a_notice(partner, kind):
    body = lead_body()
    ref = json.loads(body)["subject_ref"]
    send_lead(partner, body)
    assert send_message(partner, message(ref)).status == 201
    assert ask(partner, kind, ref).status == 201
    assert send_message(partner, message(ref)).status == 410
    assert send_message(partner, message(ref, kind="notice")).status == 201
    (stored,) = partner.store.leads(ref)
    referral = [c for c in stored.consents if c.purpose == "referral"][0]
    assert referral.action == ("withdrawn" if kind == "withdraw" else "given")


@pytest.mark.promise("P29")
def test_a_repeated_request_gets_its_status_and_is_carried_out_once(partner, calls):
    ref = uuid.uuid4().hex
    rid = str(uuid.uuid4())
    first, again = (
        ask(partner, "erasure", ref, request_id=rid),
        ask(partner, "erasure", ref, request_id=rid),
    )
    assert (first.status, again.status) == (201, 200)
    assert answer_of(again, "dsr-response")["request_status"] == "completed"
    assert len(calls) == 1


@pytest.mark.promise("P29")
def test_a_held_request_can_be_cancelled_while_pending_and_not_after(calls):
    partner = Partner(SECRET, MemoryStore(), hold_seconds=60, callback=lambda *a: calls.append(a))
    ref = uuid.uuid4().hex
    held, kept = _id(ask(partner, "erasure", ref)), _id(ask(partner, "erasure", ref))
    status = get(partner, f"/opendsr/v2/requests/{held}")
    assert answer_of(status, "dsr-response")["request_status"] == "pending"
    cancelled = get(partner, f"/opendsr/v2/requests/{held}", method="DELETE")
    assert cancelled.status == 202
    assert answer_of(cancelled, "dsr-response")["request_status"] == "cancelled"
    # The hold passes: the other is carried out (and called back), the cancelled one is not.
    partner.hold_seconds = 0.01
    time.sleep(0.05)
    assert partner.settle() == 1
    assert [json.loads(body)["subject_request_id"] for _, body, _ in calls] == [kept]
    late = get(partner, f"/opendsr/v2/requests/{kept}", method="DELETE")
    assert late.status == 400
    assert "completed" in answer_of(late, "dsr-response")["error"]["message"]


@pytest.mark.promise("P25")
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{}", "not an OpenDSR request"),
        (dsr("erasure", "x").replace(b'"erasure"', b'"deletion"'), "unsupported request type"),
    ],
)
def test_a_request_the_library_does_not_understand_is_refused(partner, body, reason):
    answer = partner.handle(signed("/opendsr/v2/requests", body, purpose="dsr"))
    assert answer.status == 400
    assert reason in answer_of(answer, "dsr-response")["error"]["message"]


@pytest.mark.promise("P25")
def test_rights_calls_without_tillits_signature_are_refused(partner):
    for request in (
        Request("GET", "/opendsr/v2/discovery"),
        Request("POST", "/opendsr/v2/requests", dsr("access", "x")),
        signed("/opendsr/v2/requests", dsr("access", "x"), purpose="lead"),
    ):
        answer = partner.handle(request)
        assert answer.status == 401
        assert answer_of(answer, "dsr-response")["error"]["code"] == 401


def test_other_paths_and_methods_get_plain_answers(partner):
    assert partner.handle(Request("GET", "/healthz")).body == b"ok"
    assert partner.handle(Request("GET", "/nothing")).status == 404
    wrong = partner.handle(Request("GET", "/leads"))
    assert (wrong.status, wrong.headers["Allow"]) == (405, "POST")
    big = partner.handle(Request("POST", "/leads", b"x" * (300 * 1024)))
    assert big.status == 413


def test_the_core_needs_nothing_but_the_standard_library():
    """Imported in a fresh interpreter, the core loads no third-party module."""
    src = Path(__file__).parents[1] / "src"
    code = (
        "import sys, tillit_partner, tillit_partner.callbacks, tillit_partner.asgi;"
        "ours = {'tillit_partner', '__main__', *sys.stdlib_module_names};"
        "print(sorted({m.split('.')[0] for m in sys.modules} - ours))"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(src)!r}); {code}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.promise("P29")
def test_a_request_left_behind_by_a_dead_process_is_carried_out_when_tillit_asks_again(partner):
    """Stored, then the process died before carrying it out: the retry of the same request
    carries it out, and so does a later poll of anything left that long."""
    from datetime import timedelta

    from tillit_partner.store import RequestRecord

    ref = json.loads(lead := lead_body())["subject_ref"]
    send_lead(partner, lead)
    rid = str(uuid.uuid4())
    partner.store.add_request(RequestRecord(rid, "erasure", ref))
    again = ask(partner, "erasure", ref, request_id=rid)
    assert answer_of(again, "dsr-response")["request_status"] == "completed"
    assert partner.store.leads(ref) == []
    old = RequestRecord(str(uuid.uuid4()), "access", ref)
    old = old.__class__(**{**old.__dict__, "changed_at": old.changed_at - timedelta(hours=1),
                           "received_at": old.received_at - timedelta(hours=1)})  # fmt: skip
    partner.store.add_request(old)
    assert partner.settle() == 1
    assert partner.store.get_request(old.request_id).status == "completed"


@pytest.mark.promise("P29")
def test_an_erasure_takes_the_persons_earlier_access_results_too(partner):
    ref = json.loads(lead := lead_body())["subject_ref"]
    send_lead(partner, lead)
    earlier = _id(ask(partner, "access", ref))
    assert ask(partner, "erasure", ref).status == 201
    assert get(partner, f"/opendsr/v2/results/{earlier}").status == 404


def test_the_results_link_names_the_endpoint_as_registered_behind_a_proxy():
    partner = Partner(SECRET, MemoryStore(), endpoint="https://broker.example/tillit/")
    answer = partner.handle(signed("/opendsr/v2/requests", dsr("access", "x"), purpose="dsr"))
    assert json.loads(answer.body)["results_url"].startswith(
        "https://broker.example/tillit/opendsr/v2/results/"
    )


@pytest.mark.parametrize("urls", ["https://tillit.example/cb", ["ftp://x.example"], ["a"] * 5])
def test_callback_urls_must_be_a_short_list_of_http_urls(partner, urls):
    body = json.loads(dsr("access", "x"))
    body["status_callback_urls"] = urls
    raw = json.dumps(body).encode()
    assert partner.handle(signed("/opendsr/v2/requests", raw, purpose="dsr")).status == 400
