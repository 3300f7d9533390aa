"""The adapters: the library mounted under a base path in Django and in an ASGI framework
(Starlette), where tillit signs a GET over the path after the endpoint."""

import asyncio
import json
import uuid

import httpx
import pytest

from tillit_partner import MemoryStore, Partner, signing

SECRET = b"adapter-secret"
PARTNER = Partner(SECRET, MemoryStore(), callback=lambda *a: None)
PREFIX, HOST = "/broker/tillit", "partner.example"

urlpatterns: list = []  # this module is the Django test's URLconf (filled there)


def lead():
    body = json.dumps(
        {
            "lead_id": str(uuid.uuid4()),
            "subject_ref": uuid.uuid4().hex,
            "name": "Partner Check",
            "email": "someone@example.com",
            "country": "NO",
            "consents": [{"purpose": "referral", "action": "given"}],
        }
    ).encode()
    headers = {
        signing.HEADER: signing.sign(SECRET, body, purpose="lead"),
        signing.IDEMPOTENCY_HEADER: json.loads(body)["lead_id"],
        "Content-Type": "application/json",
    }
    return body, headers


def signed_get(path):
    return {signing.HEADER: signing.sign(SECRET, f"GET {path}".encode(), purpose="dsr")}


def access(ref):
    body = json.dumps(
        {
            "subject_request_id": str(uuid.uuid4()),
            "subject_request_type": "access",
            "subject_identities": [
                {"identity_type": "controller_customer_id", "identity_value": ref}
            ],
        }
    ).encode()
    return body, {signing.HEADER: signing.sign(SECRET, body, purpose="dsr")}


async def check(post, get):
    """A lead, its repeat, discovery and an access request with its results, through the
    mount point: each signed as tillit signs it."""
    body, headers = lead()
    first = await post(f"{PREFIX}/leads", body, headers)
    assert first.status_code == 201, first.content
    signing.verify(SECRET, first.content, first.headers[signing.HEADER], purpose="receipt")
    assert (await post(f"{PREFIX}/leads", body, headers)).status_code == 200
    discovery = await get(f"{PREFIX}/opendsr/v2/discovery", signed_get("/opendsr/v2/discovery"))
    assert discovery.status_code == 200
    ref = json.loads(body)["subject_ref"]
    status = json.loads((await post(f"{PREFIX}/opendsr/v2/requests", *access(ref))).content)
    rid = status["subject_request_id"]
    # The results' link names the endpoint as tillit reached it, mount point and all.
    assert status["results_url"] == f"http://{HOST}{PREFIX}/opendsr/v2/results/{rid}"
    path = f"/opendsr/v2/results/{rid}"
    results = json.loads((await get(PREFIX + path, signed_get(path))).content)
    assert [r["subject_ref"] for r in results["records"]] == [ref]


@pytest.mark.promise("P17")
@pytest.mark.promise("P25")
def test_the_django_adapter_under_a_base_path():
    """Through Django's URL resolver, as a site's own URLconf includes it (the views are called
    without the site's middleware, which is the site's own business)."""
    django = pytest.importorskip("django")
    from django.conf import settings
    from django.test import RequestFactory
    from django.test.utils import override_settings
    from django.urls import Resolver404, include, path, resolve

    from tillit_partner.django import urls

    if not settings.configured:
        settings.configure(ALLOWED_HOSTS=[HOST], SECRET_KEY="test", ROOT_URLCONF=__name__)
        django.setup()
    urlpatterns[:] = [path(PREFIX.strip("/") + "/", include(urls(PARTNER)))]
    factory = RequestFactory(HTTP_HOST=HOST)

    def serve(request):
        match = resolve(request.path, urlconf=__name__)
        return match.func(request, *match.args, **match.kwargs)

    with override_settings(ALLOWED_HOSTS=[HOST]):

        async def post(url, body, headers):
            return serve(factory.post(url, body, content_type="application/json", headers=headers))

        async def get(url, headers):
            return serve(factory.get(url, headers=headers))

        asyncio.run(check(post, get))
        with pytest.raises(Resolver404):
            resolve(f"{PREFIX}/elsewhere", urlconf=__name__)


@pytest.mark.promise("P17")
@pytest.mark.promise("P25")
def test_the_asgi_adapter_mounted_in_starlette():
    pytest.importorskip("starlette")
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from tillit_partner.asgi import App

    app = Starlette(routes=[Mount(PREFIX, app=App(PARTNER))])

    async def run():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{HOST}") as client:

            async def post(url, body, headers):
                return await client.post(url, content=body, headers=headers)

            async def get(url, headers):
                return await client.get(url, headers=headers)

            await check(post, get)
            return await client.post(f"{PREFIX}/leads", content=b"x" * 300_000)

    assert asyncio.run(run()).status_code == 413
