"""The partner API against its OpenAPI description (src/tillit/reference_partner/openapi.json),
over real HTTP: schemathesis sends the reference partner, running as its own process, what
the description allows and much that it does not.

Most requests are signed as tillit signs them, so the fuzzer reaches the code behind the
signature; some are signed wrongly on purpose (stale, another purpose, other bytes, garbled,
not at all). Whatever arrives, the partner never answers 5xx, every answer is one the
description names, in its shape and with its signature header, and what a request was not
signed for changes nothing: no lead, no message, no rights request.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
import zlib
from collections.abc import Iterator
from importlib.resources import files
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.core import NOT_SET

from tests.processes import ReferencePartner
from tillit.partners import signing

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

# The description as the package ships it (and the partner serves it at GET /openapi.json).
OPENAPI = str(files("tillit.reference_partner") / "openapi.json")
# Where a rights request's status callbacks go: a port on this machine where nothing listens.
NOWHERE = "http://127.0.0.1:9"
EXAMPLES = 20
# The shared secret of this run's partner and of the signer.
SECRET = secrets.token_urlsafe(32)


def purpose(method: str, path: str) -> str | None:
    """What tillit signs a request to this operation for (None: it is not signed)."""
    if path.startswith("/opendsr/"):
        return "dsr"
    return {("POST", "/leads"): "lead", ("POST", "/messages"): "message"}.get((method, path))


def signed_bytes(method: str, path: str, body: bytes) -> bytes:
    """A POST is signed over its raw body; a GET or DELETE over "<METHOD> <path>"."""
    return body if method == "POST" else f"{method} {path}".encode()


class Signer:
    """Signs each generated request as tillit does, except one in four, which it signs wrongly
    in one of six ways. Which, follows from the request's bytes, so that Hypothesis can
    replay and shrink an example."""

    secret = SECRET.encode()

    def get(self, case: Any, context: Any) -> bytes:
        return self.secret

    def set(self, case: Any, secret: bytes, context: Any) -> None:
        kind = purpose(case.method, case.operation.path)
        if kind is None:
            return
        body = b""
        if case.method == "POST" and case.body is not NOT_SET:
            self.tame(case)
            body = self.wire(case.body)
        signed = signed_bytes(case.method, unquote(case.formatted_path), body)
        luck = zlib.crc32(signed)
        case.headers = dict(case.headers or {})
        lead_id = case.body.get("lead_id") if isinstance(case.body, dict) else None
        if case.operation.path == "/leads" and self.sayable(lead_id) and luck % 5:
            # As tillit does: the Idempotency-Key is the lead's own id.
            case.headers["Idempotency-Key"] = lead_id
        now = int(time.time())
        header = signing.sign(secret, signed, purpose=kind)
        if luck % 4 == 0:
            header = {
                0: None,
                1: signing.sign(secret, signed, purpose=kind, timestamp=now - 600),
                2: signing.sign(secret, signed, purpose="receipt"),
                3: signing.sign(secret, signed + b" ", purpose=kind),
                4: f"t={now},v1=" + "é" * 64,
                5: f"t={'9' * 400},v1=" + "0" * 64,
            }[luck // 4 % 6]
        if header is None:
            case.headers.pop(signing.HEADER, None)
        else:
            case.headers[signing.HEADER] = header

    @staticmethod
    def sayable(value: Any) -> bool:
        """Whether a value can travel in an HTTP header as it is."""
        return isinstance(value, str) and value.isascii() and value.isprintable()

    @staticmethod
    def wire(body: Any) -> bytes:
        """The bytes sent for a body, as schemathesis and `requests` send them (a body they
        would spell some other way is signed over nothing: wrongly, as some are anyway)."""
        if isinstance(body, bytes):
            return body
        try:
            return json.dumps(body, allow_nan=False).encode() if body is not None else b"null"
        except (TypeError, ValueError):
            return b""

    @staticmethod
    def tame(case: Any) -> None:
        """A signed rights request's callbacks go nowhere: the fuzzer's URLs are never called
        (and the partner's process sends everything through a proxy that is not there)."""
        if isinstance(case.body, dict) and isinstance(case.body.get("status_callback_urls"), list):
            case.body["status_callback_urls"] = [NOWHERE + "/callback"]


def authentic(secret: bytes, request: Any) -> bool:
    """Whether the request as it was sent carries a valid signature for its operation."""
    path = unquote(urlsplit(request.url).path)
    body = request.body or b""
    body = body.encode() if isinstance(body, str) else body
    try:
        signing.verify(
            secret,
            signed_bytes(request.method, path, body),
            request.headers.get(signing.HEADER),
            purpose=purpose(request.method, path) or "",
        )
    except signing.SignatureError:
        return False
    return True


def holdings(http: httpx.Client) -> tuple[int, int]:
    """How many leads and delivered messages the partner holds."""
    leads = http.get("/leads.json").json()["count"]
    return leads, len(http.get("/messages.json").json()["messages"])


def named_request(method: str, path: str, body: Any) -> str | None:
    """The rights request a request is about (by its subject_request_id), if any."""
    if path.startswith("/opendsr/v2/requests/"):
        named = path.rsplit("/", 1)[-1]
    elif (method, path) == ("POST", "/opendsr/v2/requests") and isinstance(body, dict):
        named = str(body.get("subject_request_id"))
    else:
        return None
    try:
        return str(uuid.UUID(named))
    except ValueError:
        return None


def rights_request(http: httpx.Client, request_id: str | None) -> object:
    """What the partner says of a rights request, asked as tillit asks (signed)."""
    if request_id is None:
        return None
    path = f"/opendsr/v2/requests/{request_id}"
    header = signing.sign(SECRET.encode(), f"GET {path}".encode(), purpose="dsr")
    answer = http.get(path, headers={signing.HEADER: header})
    return answer.status_code, answer.json().get("request_status")


@pytest.fixture(scope="module")
def partner_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReferencePartner]:
    """The reference partner as its own process, sharing SECRET with the signer; whatever it
    would send goes to a proxy on this machine where nothing listens."""
    nowhere = {name: NOWHERE for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")}
    nowhere |= {name.lower(): NOWHERE for name in nowhere}
    partner = ReferencePartner(
        tmp_path_factory.mktemp("partner"),
        secret=SECRET,
        extra_env={**nowhere, "NO_PROXY": "", "no_proxy": ""},
    )
    partner.start()
    try:
        yield partner
    finally:
        partner.stop()


@pytest.fixture(scope="module")
def http(partner_api: ReferencePartner) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=partner_api.url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    """One connection pool for schemathesis's requests (a new one per request is slow)."""
    with requests.Session() as pool:
        yield pool


# Loaded from the file at collection (the server's address is given with each call). Two of
# schemathesis's checks do not fit a partner API: whether a valid request is accepted depends
# on what the partner holds (a request carried out cannot be withdrawn; the Idempotency-Key
# must equal the body's lead_id, which a schema cannot say), and a partner may take leniently
# a field it only passes on. The rest hold: no 5xx, every answer as described, and the
# signature enforced (`ignored_auth`: each accepted request is sent again unsigned and
# wrongly signed, and must be refused).
LENIENT = {"enabled": False}
schema = schemathesis.openapi.from_path(
    OPENAPI,
    config=schemathesis.Config.from_dict(
        {"checks": {"positive_data_acceptance": LENIENT, "negative_data_rejection": LENIENT}}
    ),
)
# No caching and no retry: each request is signed for itself, and a 401 is an answer.
schema.auth(refresh_interval=None, retry_on=[])(Signer)


@pytest.mark.promise("P17")
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_partner_api_answers_any_request_as_its_description_says(
    case, partner_api, http, session
):
    named = named_request(case.method, unquote(case.formatted_path), case.body)
    held, asked = holdings(http), rights_request(http, named)
    response = case.call_and_validate(base_url=partner_api.url, session=session)
    now_held = holdings(http)
    sent = response.request
    path = unquote(urlsplit(sent.url).path)
    if purpose(sent.method, path) is None or sent.method != case.operation.method.upper():
        return  # not signed; or a method the operation does not have (405, checked above)
    if not authentic(SECRET.encode(), sent):
        assert response.status_code == 401, response.text
        assert now_held == held, "a request not signed for changed what the partner holds"
        assert rights_request(http, named) == asked, "... or a rights request"
        return
    assert response.status_code < 500
    leads, mailbox = held
    if (sent.method, path) == ("POST", "/leads"):
        # A lead is stored when, and only when, the answer says so.
        assert now_held == (leads + (response.status_code == 201), mailbox)
    elif (sent.method, path) == ("POST", "/messages"):
        assert now_held == (leads, mailbox + (response.status_code == 201))
    elif (sent.method, path) != ("POST", "/opendsr/v2/requests"):
        assert now_held == held  # only an erasure request takes leads away
