"""The partner check (partners/conformance/) against the reference partner, its own process
over real HTTP: the reference passes every check, at once and when it holds requests a while;
and a broken partner, the reference behind a proxy that breaks one thing (tests/partner_proxy.py),
fails exactly the checks that thing concerns, each with a message that says what it did."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
import pytest
from django.utils import translation
from tillit_partner import note, tree

from tests.conftest import make_partner
from tests.partner_proxy import Answer, Breakage, Proxy, Request
from tests.processes import ReferencePartner, free_port
from tests.test_reference_witness import Log
from tillit.audit import logkey, sequencer
from tillit.audit.models import Witness, record
from tillit.partners import conformance
from tillit.partners.conformance import FAIL, PASS, SKIP, WitnessTarget

pytestmark = [pytest.mark.promise("P17"), pytest.mark.promise("P18")]
e2e = pytest.mark.e2e
# The rights the checks see carried out at a partner.
RIGHTS = ("P25", "P26", "P27", "P28", "P29", "P31", "P32")


def promises(*ids: str) -> Callable:
    def marked(test: Callable) -> Callable:
        for promise in ids:
            test = pytest.mark.promise(promise)(test)
        return test

    return marked


# The logs the reference partner witnesses besides tillit's own: one for each broken witness.
WITNESSED = ("foreign_cosignature", "forged_checkpoint_not_refused", "size_untyped")
LOGS = {name: Log(f"partner-check.test/{name}") for name in WITNESSED}


@pytest.fixture(scope="module")
def partners(tmp_path_factory) -> Iterator[dict[str, ReferencePartner]]:
    """Two reference partners, started side by side: `reference` carries rights requests out
    at once, `holding` holds each a second before it acts. Both witness tillit's consent log
    and the logs of LOGS."""
    vkeys = [logkey.load().active.vkey] + [log.signer.verifier.vkey for log in LOGS.values()]
    made = {
        name: ReferencePartner(
            tmp_path_factory.mktemp(name),
            extra_env={"PARTNER_WITNESS_LOGS": ",".join(vkeys), "PARTNER_DSR_HOLD_SECONDS": hold},
        )
        for name, hold in (("reference", "0"), ("holding", "1"))
    }
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(ReferencePartner.start, made.values()))
        yield made
    finally:
        for partner in made.values():
            partner.stop()


@pytest.fixture
def reference(partners) -> ReferencePartner:
    return partners["reference"]


@pytest.fixture
def holding(partners) -> ReferencePartner:
    return partners["holding"]


@pytest.fixture(autouse=True)
def in_english() -> Iterator[None]:
    """The report in English, as the phrases below are."""
    with translation.override("en"):
        yield


def check(partner: ReferencePartner, endpoint: str = "", **options) -> conformance.Report:
    options.setdefault("wait_seconds", 10)
    return conformance.run(endpoint or partner.url, [partner.secret.encode()], **options)


def outcomes(report: conformance.Report) -> dict[str, str]:
    return {r.id: r.outcome for r in report.results}


def test_each_check_has_an_id_of_its_own_the_endpoints_first_the_timing_last():
    assert len(conformance.CHECK_IDS) == len(set(conformance.CHECK_IDS)) >= 25
    assert conformance.CHECK_IDS[:2] == ("endpoint", "healthz")
    assert conformance.CHECK_IDS[-1] == "latency"


def grow_the_log(n: int = 4) -> None:
    for i in range(n):
        record("test.partner_check", actor="tester", target=f"subject:check-{i}")
    sequencer.integrate()
    assert sequencer.sign_checkpoint(force=True) is not None


def held_by(partner: ReferencePartner) -> int:
    return int(httpx.get(partner.url + "/leads.json", timeout=10).json()["count"])


def mailbox(partner: ReferencePartner) -> int:
    return len(httpx.get(partner.url + "/messages.json", timeout=10).json()["messages"])


@e2e
@pytest.mark.django_db
@pytest.mark.promise("P24")
@promises(*RIGHTS)
def test_the_reference_partner_passes_every_check_and_keeps_nothing(reference):
    """A registered partner that is also a witness of the consent log (found by the URL of its
    witness, under its endpoint): every check runs, and all pass but cancelling a pending
    request, which a partner that acts at once never has."""
    grow_the_log()
    state = httpx.get(reference.url + "/witness/state", timeout=10).json()["witness"]
    Witness.objects.create(name=state["name"], url=reference.url + "/witness", vkey=state["vkey"])
    partner = make_partner(endpoint=reference.url, secret=reference.secret)
    before, delivered = held_by(reference), mailbox(reference)

    report = conformance.run_for(partner, wait_seconds=10)

    assert report.passed, report.text()
    assert {i for i, o in outcomes(report).items() if o != PASS} == {"rights.cancel_pending"}
    assert "pending" in report.result("rights.cancel_pending").reason
    assert held_by(reference) == before, "a test lead stayed with the partner"
    # The offers and notices delivered to the test identities went with their erasure.
    assert mailbox(reference) == delivered, "a test message stayed in the partner's mailbox"
    assert report.endpoint == reference.url and report.started_at <= report.finished_at
    assert json.loads(json.dumps(report.as_dict()))["passed"] is True


@e2e
@pytest.mark.promise("P29")
def test_a_partner_that_holds_requests_lets_a_pending_one_be_cancelled(holding):
    report = check(holding)
    assert report.passed, report.text()
    assert outcomes(report)["rights.cancel_pending"] == PASS
    assert outcomes(report)["witness.cosign"] == SKIP  # not registered as a witness


@e2e
@pytest.mark.django_db
def test_a_partner_whose_secret_is_being_rotated_passes_with_either(reference):
    """tillit holds the new secret and the old, the partner still only the old."""
    partner = make_partner(endpoint=reference.url, secret=reference.secret)
    partner.set_secret(None, overlap=dt.timedelta(hours=24))
    assert len(partner.secrets()) == 2
    report = conformance.run_for(
        partner,
        checks=["lead.new", "lead.rotation", "lead.header", "rights.access", "rights.callback"],
    )
    assert report.passed, report.text()


@e2e
def test_callbacks_come_through_the_url_given_to_the_listener(reference):
    port = free_port()
    report = check(
        reference,
        listen=("127.0.0.1", port),
        callback_url=f"http://localhost:{port}/behind/a/proxy",
        checks=["rights.objection", "rights.callback"],
    )
    assert report.passed, report.text()


@e2e
def test_a_partner_without_a_rights_api_has_those_checks_skipped_and_is_told_what_stays(
    reference,
):
    report = check(reference, rights_api=False, checks=["lead.new", "rights.access", "cleanup"])
    assert report.passed
    assert outcomes(report) == {"lead.new": PASS, "rights.access": SKIP, "cleanup": SKIP}
    assert "partner-check.invalid" in report.result("cleanup").reason


def test_a_dead_endpoint_fails_once_and_skips_the_rest():
    report = conformance.run(f"http://127.0.0.1:{free_port()}", [b"a-secret"], wait_seconds=1)
    assert not report.passed
    assert [r.id for r in report.results if r.outcome == FAIL] == ["healthz"]
    assert "could not connect" in report.result("healthz").received
    assert "could not be reached" in report.text()


@e2e
def test_an_endpoint_under_a_base_path_is_signed_over_the_path_after_it(reference):
    """tillit signs a GET or DELETE over the path after the endpoint, and so does the check."""
    proxy = Proxy(reference.url, reference.secret, Breakage(), prefix="/mounted/partner")
    try:
        report = check(
            reference,
            endpoint=proxy.url + "/mounted/partner",
            checks=["healthz", "lead.new", "rights.discovery", "rights.cancel_completed"],
        )
    finally:
        proxy.close()
    assert report.passed, report.text()
    assert report.endpoint.endswith("/mounted/partner")


@pytest.mark.django_db
def test_a_partners_witness_is_the_one_named_for_it_or_under_its_endpoint():
    mine = make_partner(endpoint="http://127.0.0.1:8001")
    theirs = make_partner(slug="broker-b", endpoint="http://127.0.0.1:800")
    vkey = note.Cosigner.generate("witness.example").vkey
    under = Witness.objects.create(name="under", url="http://127.0.0.1:8001/witness", vkey=vkey)
    assert conformance.registered_witness(mine) == under
    assert conformance.registered_witness(theirs) is None
    assert conformance.registered_witness(endpoint="http://127.0.0.1:8001/") == under
    Witness.objects.filter(pk=under.pk).update(active=False)
    named = Witness.objects.create(
        name="named", url="https://witness.example/w", vkey=vkey, partner=theirs
    )
    assert conformance.registered_witness(mine) is None
    assert conformance.registered_witness(theirs) == named


@pytest.mark.parametrize(
    "endpoint", ["http://partner.example.com", "ftp://127.0.0.1", "https://partner.example.com"]
)
def test_only_https_or_this_machine_is_an_endpoint_tillit_sends_to(endpoint):
    if not endpoint.startswith("http"):
        with pytest.raises(ValueError):
            conformance.run(endpoint, [b"a-secret"], checks=["endpoint"])
        return
    report = conformance.run(endpoint, [b"a-secret"], checks=["endpoint"])
    assert report.passed == endpoint.startswith("https"), report.text()


# --- Broken partners -----------------------------------------------------------------------


def posted(path: str, **fields: object) -> Callable[[Request], bool]:
    """Picks the POSTs to `path` (whose body has these fields, for a rights request its type)."""

    def matches(request: Request) -> bool:
        if (request.method, request.path) != ("POST", path):
            return False
        if not fields:
            return True
        try:
            data = request.json()
        except ValueError:
            return False
        kind = data.get("extensions", {}).get("tillit", {}).get("tillit_request_type")
        return all(data.get(k) == v or (k == "kind" and kind == v) for k, v in fields.items())

    return matches


def is_rights(request: Request) -> bool:
    return request.path.startswith("/opendsr/")


class Requests(Breakage):
    """Rewrites (or answers) the requests `matches` picks."""

    def __init__(self, matches: Callable[[Request], bool], rewrite: Callable) -> None:
        self.matches, self.rewrite = matches, rewrite

    def request(self, proxy: Proxy, request: Request) -> Request | Answer:
        return self.rewrite(proxy, request) if self.matches(request) else request


class Answers(Breakage):
    """Rewrites the partner's answers to the requests `matches` picks with status `status`."""

    def __init__(self, matches: Callable[[Request], bool], status: int | None, rewrite: Callable):
        self.matches, self.status, self.rewrite = matches, status, rewrite

    def response(self, proxy: Proxy, request: Request, answer: Answer) -> Answer:
        if self.matches(request) and self.status in (None, answer.status):
            return self.rewrite(proxy, request, answer)
        return answer


def unsigned(proxy, request, answer) -> Answer:
    return Answer(answer.status, {**answer.headers, "tillit-signature": ""}, answer.body)


def signed_as(purpose: str) -> Callable:
    def resign(proxy, request, answer) -> Answer:
        signature = proxy.sign(answer.body, purpose)
        return Answer(answer.status, {**answer.headers, "tillit-signature": signature}, answer.body)

    return resign


def changed(purpose: str, status: int | None = None, **fields: object) -> Callable:
    """The answer's JSON with these fields (a callable makes the value), signed again."""

    def rewrite(proxy, request, answer) -> Answer:
        data = answer.json()
        data.update({k: v() if callable(v) else v for k, v in fields.items()})
        return proxy.answer(status or answer.status, data, purpose)

    return rewrite


def resigned(proxy, request) -> Request:
    return proxy.resigned(request)


def refused(status: int, purpose: str, reason: str = "refused by the proxy") -> Callable:
    def answer(proxy, request, *rest) -> Answer:
        if purpose == "dsr-response":
            return proxy.answer(status, {"error": {"code": status, "message": reason}}, purpose)
        return proxy.answer(status, {"status": "refused", "reason": reason}, purpose)

    return answer


def rights_type(kind: str) -> Callable:
    """The rights request rewritten as one of another type."""

    def rewrite(proxy, request) -> Request:
        data = request.json()
        data["subject_request_type"] = kind if kind in ("access", "erasure") else "extension"
        data["extensions"]["tillit"]["tillit_request_type"] = kind
        return proxy.resigned(request, json.dumps(data).encode())

    return rewrite


def header_values(header: str) -> tuple[list[str], list[str]]:
    fields = [p.split("=", 1) for p in header.split(",") if "=" in p]
    return [v for k, v in fields if k == "t"], [v for k, v in fields if k == "v1"]


def one_v1(pick: int) -> Callable:
    """A verifier that reads only one v1 of the header (the first, or the last)."""

    def rewrite(proxy, request) -> Request:
        stamps, values = header_values(request.headers.get("tillit-signature", ""))
        if len(values) < 2:
            return request
        header = f"t={stamps[0]},v1={values[pick]}"
        return Request(
            request.method,
            request.path,
            {**request.headers, "tillit-signature": header},
            request.body,
        )

    return rewrite


def lenient(proxy, request) -> Request:
    """A verifier that takes any number of t and v1 values, so long as one v1 matches."""
    stamps, values = header_values(request.headers.get("tillit-signature", ""))
    for value in values:
        if proxy.verifies(request.signed, f"t={stamps[0]},v1={value}", request.purpose):
            return proxy.resigned(request)
    return request


def lax_clock(proxy, request) -> Request:
    """A partner that takes a signature up to a day old or ahead."""
    header = request.headers.get("tillit-signature")
    day = {"tolerance": 86_400}
    if proxy.verifies(request.signed, header, request.purpose, **day):
        return proxy.resigned(request)
    return request


def reflected(proxy, request) -> Request:
    """A partner that takes its own answers' signatures as tillit's."""
    header = request.headers.get("tillit-signature")
    for purpose in ("receipt", "dsr-response", "message-receipt"):
        if proxy.verifies(request.signed, header, purpose):
            return proxy.resigned(request)
    return request


def stored_then_refused(proxy, request) -> Request | Answer:
    """A partner that stores a lead before it checks the signature, then refuses it."""
    if proxy.verifies(request.body, request.headers.get("tillit-signature"), "lead"):
        return request
    proxy.forward(proxy.resigned(request))
    return refused(401, "receipt", "signature does not match")(proxy, request)


class ConflictTaken(Breakage):
    """Answers a lead_id's second body with the first body's receipt."""

    def response(self, proxy, request, answer):
        if (request.method, request.path) != ("POST", "/leads"):
            return answer
        lead_id = request.headers.get("idempotency-key", "")
        if answer.status in (200, 201):
            proxy.seen[lead_id] = answer.json()
        elif answer.status == 409 and lead_id in proxy.seen:
            return proxy.answer(200, proxy.seen[lead_id], "receipt")
        return answer


class Remembering(Breakage):
    """Answers a repeat of a rights request (one seen before) with 400."""

    def request(self, proxy, request):
        if (request.method, request.path) != ("POST", "/opendsr/v2/requests"):
            return request
        request_id = request.json()["subject_request_id"]
        with proxy.lock:
            again = request_id in proxy.seen
            proxy.seen[request_id] = True
        return refused(400, "dsr-response")(proxy, request) if again else request


class NeverDone(Breakage):
    """Objections stay pending for ever, whatever the partner did."""

    def request(self, proxy, request):
        if posted("/opendsr/v2/requests", kind="objection")(request):
            proxy.seen[request.json()["subject_request_id"]] = True
        return request

    def response(self, proxy, request, answer):
        request_id = request.path.rsplit("/", 1)[-1]
        if request.method == "GET" and request_id in proxy.seen and answer.status == 200:
            return changed("dsr-response", request_status="pending")(proxy, request, answer)
        return answer


class Leaky(Breakage):
    """Results that hold every lead the partner has."""

    def response(self, proxy, request, answer):
        if request.method != "GET" or not request.path.startswith("/opendsr/v2/results/"):
            return answer
        everyone = proxy.http.get(proxy.upstream + "/leads.json").json()["leads"]
        return changed("dsr-response", records=everyone)(proxy, request, answer)


class Callbacks(Breakage):
    rewrites_callbacks = True

    def __init__(self, how: str) -> None:
        self.how = how

    def callback(self, proxy, body, original):
        if self.how == "dropped":
            return None
        if self.how == "unsigned":
            return json.dumps({**body, "status_callback_url": original}).encode(), None
        raw = json.dumps(body).encode()  # the proxy's own URL left in it
        return raw, proxy.sign(raw, "dsr-callback")


class Slow(Breakage):
    def request(self, proxy, request):
        if request.path == "/opendsr/v2/discovery":
            time.sleep(1.5)
        return request


def status_of(status: str) -> Callable:
    def answer(proxy, request, previous) -> Answer:
        data = {
            "controller_id": "proxy",
            "subject_request_id": request.path.rsplit("/", 1)[-1],
            "request_status": status,
            "expected_completion_time": "2026-01-01T00:00:00+00:00",
        }
        return proxy.answer(202, data, "dsr-response")

    return answer


def foreign_cosignature(proxy, request, answer) -> Answer:
    """A cosignature by a key of the witness's name, but not the one on record."""
    name = proxy.http.get(proxy.upstream + "/witness/state").json()["witness"]["name"]
    signed = request.body.decode().split("\n\n", 1)[1]
    line = note.Cosigner.generate(name).cosign(note.parse_note(signed).text, int(time.time()))
    return Answer(200, {"content-type": "text/plain; charset=utf-8"}, line.encode())


def _text(status: int, content_type: str) -> Callable:
    def rewrite(proxy, request, answer) -> Answer:
        return Answer(status, {"content-type": content_type}, answer.body)

    return rewrite


@dataclass(frozen=True)
class Case:
    breakage: Breakage
    checks: tuple[str, ...]
    fails: dict[str, str]  # each check that must fail, and a phrase its message holds
    upstream: str = "reference"
    options: dict[str, object] = field(default_factory=dict)


LEADS = posted("/leads")
MESSAGES = posted("/messages")
WITNESS_CHECKS = ("witness.cosign", "witness.bad_signature", "witness.wrong_old")


def WITNESS(request: Request) -> bool:  # noqa: N802  (named as the other pickers)
    return request.path == "/witness/add-checkpoint"


def SIGNED_REQUESTS(request: Request) -> bool:  # noqa: N802
    return request.path.startswith(("/leads", "/messages", "/opendsr/"))


CASES = {
    "healthz_down": Case(
        Requests(lambda r: r.path == "/healthz", lambda p, r: Answer(503, {}, b"down")),
        ("healthz",),
        {"healthz": "HTTP 503"},
    ),
    "receipt_unsigned": Case(
        Answers(LEADS, None, unsigned), ("lead.new",), {"lead.new": "unsigned"}
    ),
    "receipt_signed_as_a_lead": Case(
        Answers(LEADS, 201, signed_as("lead")), ("lead.new",), {"lead.new": "signed `lead`"}
    ),
    "receipt_for_another_lead": Case(
        Answers(LEADS, 201, changed("receipt", lead_id=lambda: str(uuid.uuid4()))),
        ("lead.new",),
        {"lead.new": "its lead_id is not the one sent"},
    ),
    "fresh_partner_lead_id_on_a_repeat": Case(
        Answers(LEADS, 200, changed("receipt", partner_lead_id=lambda: str(uuid.uuid4()))),
        ("lead.repeat", "lead.concurrent"),
        {"lead.repeat": "the first said", "lead.concurrent": "never two leads stored"},
    ),
    "conflict_taken_as_a_repeat": Case(
        ConflictTaken(), ("lead.conflict",), {"lead.conflict": "HTTP 200"}
    ),
    "any_signature_taken": Case(
        Requests(SIGNED_REQUESTS, resigned),
        (
            "lead.signature",
            "lead.freshness",
            "lead.header",
            "messages.signature",
            "rights.signature",
            "lead.new",
        ),
        {
            "lead.signature": "a lead without Tillit-Signature",
            "lead.freshness": "6 minutes old",
            "lead.header": "five v1 values",
            "messages.signature": "an offer without Tillit-Signature",
            "rights.signature": "an access request without Tillit-Signature",
        },
    ),  # fmt: skip
    "a_day_of_tolerance": Case(
        Requests(SIGNED_REQUESTS, lax_clock),
        ("lead.freshness", "lead.signature", "lead.new"),
        {"lead.freshness": "6 minutes old"},
    ),
    "reflected_signatures_taken": Case(
        Requests(SIGNED_REQUESTS, reflected),
        ("lead.signature", "rights.signature"),
        {"lead.signature": "reflected", "rights.signature": "reflected"},
    ),
    "stored_before_refused": Case(
        Requests(LEADS, stored_then_refused),
        ("lead.signature",),
        {"lead.signature": "the refused request stored nothing"},
    ),
    "only_the_last_v1_read": Case(
        Requests(SIGNED_REQUESTS, one_v1(-1)),
        ("lead.rotation", "lead.new"),
        {"lead.rotation": "t=…,v1=<good>,v1=<junk>"},
    ),
    "only_the_first_v1_read": Case(
        Requests(SIGNED_REQUESTS, one_v1(0)),
        ("lead.rotation", "lead.new"),
        {"lead.rotation": "t=…,v1=<junk>,v1=<good>"},
    ),
    "any_header_taken": Case(
        Requests(SIGNED_REQUESTS, lenient),
        ("lead.header", "lead.rotation"),
        {"lead.header": "five v1 values"},
    ),
    "422_answered_400": Case(
        Answers(LEADS, 422, refused(400, "receipt")),
        ("lead.malformed",),
        {"lead.malformed": "422 (missing fields"},
    ),
    "refusals_unsigned": Case(
        Answers(SIGNED_REQUESTS, None, lambda p, r, a: unsigned(p, r, a) if a.status >= 400 else a),
        ("lead.malformed", "refusals.signed"),
        {"refusals.signed": "unsigned"},
    ),
    "secret_echoed": Case(
        Answers(
            LEADS,
            422,
            lambda p, r, a: refused(400, "receipt", f"our secret is {p.secret.decode()}")(p, r),
        ),
        ("lead.malformed",),
        {"lead.malformed": "our secret is [secret]"},
    ),
    "discovery_without_the_identity": Case(
        Answers(
            lambda r: r.path == "/opendsr/v2/discovery",
            200,
            changed("dsr-response", supported_identities=[]),
        ),
        ("rights.discovery",),
        {"rights.discovery": "controller_customer_id in the raw format is not listed"},
    ),
    "rights_requests_unchecked": Case(
        Requests(is_rights, resigned),
        ("rights.signature", "rights.discovery"),
        {"rights.signature": "an access request without Tillit-Signature"},
    ),
    "rights_answer_signed_as_a_request": Case(
        Answers(posted("/opendsr/v2/requests", kind="access"), None, signed_as("dsr")),
        ("rights.access",),
        {"rights.access": "signed `dsr`"},
    ),
    "never_completed": Case(
        NeverDone(),
        ("rights.objection",),
        {"rights.objection": "it was still pending"},
        options={"wait_seconds": 0.5},
    ),
    "a_repeat_refused": Case(
        Remembering(), ("rights.access",), {"rights.access": "the same access request again"}
    ),
    "erasure_not_done": Case(
        Requests(posted("/opendsr/v2/requests", kind="erasure"), rights_type("objection")),
        ("rights.erasure",),
        {"rights.erasure": "records that still hold the test lead"},
    ),
    "results_of_everyone": Case(
        Leaky(), ("rights.access",), {"rights.access": "records that name another test identity"}
    ),
    "corrections_dropped": Case(
        Requests(
            posted("/opendsr/v2/requests", kind="rectification"),
            lambda p, r: p.resigned(
                r,
                json.dumps(
                    {**r.json(), "extensions": {"tillit": {"tillit_request_type": "rectification"}}}
                ).encode(),
            ),
        ),
        ("rights.rectification",),
        {"rights.rectification": "records without the corrected name, phone"},
    ),  # fmt: skip
    "offers_after_restriction": Case(
        Requests(posted("/opendsr/v2/requests", kind="restriction"), rights_type("access")),
        ("rights.restriction",),
        {"rights.restriction": "410: the person may not get offers"},
    ),
    "portability_without_results": Case(
        Requests(posted("/opendsr/v2/requests", kind="portability"), rights_type("objection")),
        ("rights.portability",),
        {"rights.portability": "results_url"},
    ),
    "offers_after_stop_offers": Case(
        Requests(posted("/opendsr/v2/requests", kind="stop_offers"), rights_type("access")),
        ("rights.stop_offers",),
        {"rights.stop_offers": "410: the person may not get offers"},
    ),
    "notices_withheld": Case(
        Requests(
            posted("/messages", kind="notice"),
            lambda p, r: p.resigned(r, json.dumps({**r.json(), "kind": "offer"}).encode()),
        ),
        ("rights.withdraw",),
        {"rights.withdraw": "a notice goes whatever the consent"},
    ),
    "callbacks_dropped": Case(
        Callbacks("dropped"),
        ("rights.objection", "rights.callback"),
        {"rights.callback": "the partner could not or did not call back to http://127.0.0.1:"},
        options={"wait_seconds": 0.5},
    ),
    "callbacks_unsigned": Case(
        Callbacks("unsigned"),
        ("rights.objection", "rights.callback"),
        {"rights.callback": "a callback unsigned, not `dsr-callback`"},
        options={"wait_seconds": 5},
    ),
    "callbacks_to_another_url": Case(
        Callbacks("elsewhere"),
        ("rights.objection", "rights.callback"),
        {"rights.callback": "status_callback_url"},
        options={"wait_seconds": 5},
    ),
    "completed_request_cancelled": Case(
        Answers(lambda r: r.method == "DELETE", 400, status_of("cancelled")),
        ("rights.cancel_completed",),
        {"rights.cancel_completed": "400 with an error object"},
    ),
    "pending_request_not_cancelled": Case(
        Answers(lambda r: r.method == "DELETE", 202, refused(400, "dsr-response")),
        ("rights.cancel_pending",),
        {"rights.cancel_pending": "202 with the status, now cancelled"},
        upstream="holding",
    ),
    "a_repeated_message_delivered_again": Case(
        Answers(MESSAGES, 200, changed("message-receipt", 201)),
        ("messages.offer",),
        {"messages.offer": "the same offer again"},
    ),
    "messages_to_anyone": Case(
        Answers(
            MESSAGES,
            404,
            lambda p, r, a: p.answer(
                201,
                {"message_id": r.json()["message_id"], "status": "delivered"},
                "message-receipt",
            ),
        ),
        ("messages.unknown",),
        {"messages.unknown": "404: the partner holds nobody"},
    ),  # fmt: skip
    "messages_unchecked": Case(
        Requests(MESSAGES, resigned),
        ("messages.signature",),
        {"messages.signature": "an offer without Tillit-Signature"},
    ),
    "too_slow": Case(
        Slow(),
        ("rights.discovery", "latency"),
        {
            "rights.discovery": "no answer within 1 s",
            "latency": "GET /opendsr/v2/discovery: no answer within 1 s",
        },
        options={"timeout": 1},
    ),
    "test_leads_kept": Case(
        Requests(posted("/opendsr/v2/requests", kind="erasure"), refused(500, "dsr-response")),
        ("lead.new",),
        {"cleanup": "each one completed: a partner keeps nothing"},
    ),
    "erasure_answered_404": Case(
        Requests(posted("/opendsr/v2/requests", kind="erasure"), refused(404, "dsr-response")),
        ("lead.new",),
        {"cleanup": "1 not erased; the first: HTTP 404"},
    ),
    "foreign_cosignature": Case(
        Answers(WITNESS, 200, foreign_cosignature),
        WITNESS_CHECKS,
        {"witness.cosign": "no line is a valid cosignature by that key"},
    ),
    "forged_checkpoint_not_refused": Case(
        Answers(WITNESS, 403, _text(404, "text/plain")),
        WITNESS_CHECKS,
        {"witness.bad_signature": "403: no valid signature by the log's key"},
    ),
    "size_untyped": Case(
        Answers(WITNESS, 409, _text(409, "text/plain")),
        WITNESS_CHECKS,
        {"witness.wrong_old": "Content-Type text/x.tlog.size"},
    ),
}


def target(proxy: Proxy, log: Log) -> WitnessTarget:
    state = proxy.http.get(proxy.upstream + "/witness/state").json()["witness"]
    log.grow(5)
    return WitnessTarget(
        state["name"],
        proxy.url + "/witness",
        state["vkey"],
        0,
        log.checkpoint(),
        lambda old, new: tree.consistency_proof(old, new, log.store.read),
    )


@e2e
@pytest.mark.parametrize("name", CASES)
def test_a_broken_partner_fails_the_checks_it_breaks_and_says_why(name, request):
    case = CASES[name]
    upstream: ReferencePartner = request.getfixturevalue(case.upstream)
    proxy = Proxy(upstream.url, upstream.secret, case.breakage)
    options = {"wait_seconds": 5, **case.options}
    if name in LOGS:
        options["witness"] = target(proxy, LOGS[name])
    try:
        report = conformance.run(
            proxy.url, [upstream.secret.encode()], checks=case.checks, **options
        )
    finally:
        proxy.close()
    failed = {r.id: r for r in report.results if r.outcome == FAIL}
    assert set(failed) == set(case.fails), report.text()
    for check_id, phrase in case.fails.items():
        r = failed[check_id]
        assert phrase in " | ".join((r.sent, r.received, r.required, r.detail)), report.text()
        assert r.sent and r.received and r.required
    shown = report.text() + json.dumps(report.as_dict())
    assert upstream.secret not in shown
