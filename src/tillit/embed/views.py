"""The sign-up form and the cookie banner on an operator's own site (docs/embed.md).

- /embed/signup/ is the sign-up form, made to be framed by the sites the operator lists (CSP
  frame-ancestors) and by nobody else. It sets no cookie (a frame on another site would not
  get one back): instead of a CSRF token, a post must come from the form itself (its Origin is
  tillit's own). What it keeps, it keeps by the form's rules (site/views.py take).
- /embed/signup.js draws that frame where its <script> stands, and grows it to fit.
- /embed/banner.js is the cookie banner for every page of the site: Google consent mode's
  defaults at once (so the site's own tag, loaded after it, starts denied), the stored
  choice, and the dialog when there is none. Choices go to the API (embed/api.py).
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import reverse
from django.utils import translation
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from tillit import datamap
from tillit.consent import cookies
from tillit.core import brand
from tillit.embed import origins
from tillit.site.forms import signup_form
from tillit.site.views import Outcome, take

CONSENT_JS = Path(__file__).resolve().parents[1] / "consent" / "static" / "consent" / "consent.js"
SIGNUP_JS = """(function () {
  "use strict";
  var me = document.currentScript;
  var lang = (me && me.dataset.lang) || (document.documentElement.lang || "").slice(0, 2);
  lang = lang === "en" ? "en" : "nb";
  var origin = %(origin)s, titles = %(titles)s, paths = %(paths)s;
  var frame = document.createElement("iframe");
  frame.src = origin + paths[lang];
  frame.title = titles[lang];
  frame.className = "tillit-signup";
  frame.style.border = "0";
  frame.style.width = "100%%";
  frame.style.height = "44em";
  me.parentNode.insertBefore(frame, me.nextSibling);
  /* The form tells its height, nothing else; only its own messages are heard. */
  window.addEventListener("message", function (event) {
    if (event.origin !== origin || event.source !== frame.contentWindow) return;
    var data = event.data || {};
    if (data.tillit === "height" && data.height > 0) frame.style.height = data.height + "px";
  });
})();
"""


def from_the_form(request: HttpRequest) -> bool:
    """The post comes from the framed form itself (a browser sends its Origin with a post; a
    form on any other site would carry that site's)."""
    origin = origins.origin_of(request)
    return origin is None or origin in (origins.own(request), settings.SITE_URL)


@xframe_options_exempt
@csrf_exempt
@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return origins.framed(render(request, "embed/signup.html", {"form": signup_form()}))
    if not from_the_form(request):
        # In the frame, without the cookie dialog or a CSRF cookie.
        return origins.framed(render(request, "embed/refused.html", status=403))
    form = signup_form(request.POST)
    outcome = take(request, form, "embedded-form")
    if outcome in (Outcome.LIMITED, Outcome.INVALID):
        status = 429 if outcome == Outcome.LIMITED else 400
        context = {"form": form, "limited": outcome == Outcome.LIMITED}
        return origins.framed(render(request, "embed/signup.html", context, status=status))
    return redirect("embed:sent")


@xframe_options_exempt
@require_GET
def sent(request: HttpRequest) -> HttpResponse:
    context = {"hours": settings.UNCONFIRMED_MAX_AGE_HOURS}
    return origins.framed(render(request, "embed/sent.html", context))


@require_GET
def signup_js(request: HttpRequest) -> HttpResponse:
    titles, paths = {}, {}
    for lang in datamap.LANGS:
        with translation.override(lang):
            titles[lang] = translation.gettext("Sign up") + " · " + brand.current().operator["name"]
            paths[lang] = reverse("embed:signup")
    body = SIGNUP_JS % {
        "origin": json.dumps(settings.SITE_URL),
        "titles": json.dumps(titles),
        "paths": json.dumps(paths),
    }
    return script(body, max_age=3600)


def script(body: str, max_age: int = 0) -> HttpResponse:
    response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
    # Other sites load it: a Cross-Origin-Embedder-Policy on theirs must not stop it.
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    response["Cache-Control"] = f"public, max-age={max_age}" if max_age else "no-cache"
    return response


@functools.cache
def _consent_js(mtime_ns: int) -> str:
    return CONSENT_JS.read_text(encoding="utf-8")


def banner_config(dm: datamap.DataMap) -> dict[str, object]:
    """What banner.js knows before it runs: the dialog in both languages and where to post."""
    html = {}
    for lang in datamap.LANGS:
        with translation.override(lang):
            html[lang] = render_to_string(
                "consent/_banner_dialog.html",
                {
                    "cookie_banner": {
                        "title": dm.banner["title"],
                        "text": dm.banner["text"],
                        "categories": list(dm.cookie_categories.values()),
                        "settings_url": settings.SITE_URL + reverse("consent:settings"),
                    }
                },
            )
    return {
        "embedded": True,
        "url": settings.SITE_URL + reverse("api:cookie-choices"),
        "css": settings.SITE_URL + static("consent/consent.css"),
        "version": cookies.version(dm),
        "categories": dm.optional_cookie_categories(),
        "cookie": cookies.COOKIE_NAME,
        "ga": {},
        "gpc": False,
        "state": None,
        "html": html,
    }


# The banner script last made here: (what it was made from, its ETag, its body). It changes
# with the banner's version, the data map and consent.js; a browser asks each time (no-cache)
# and is mostly told "not modified". The ETag is the body's hash, the same in every process.
_made: list[tuple[object, str, str]] = [(None, "", "")]


def _banner_script(dm: datamap.DataMap) -> tuple[str, str]:
    mtime = CONSENT_JS.stat().st_mtime_ns
    key = (cookies.version(dm), mtime, id(dm), settings.SITE_URL)
    made_from, etag, body = _made[0]
    if made_from != key:
        config = json.dumps(banner_config(dm), ensure_ascii=True)
        body = f"window.TILLIT_CC = {config};\n{_consent_js(mtime)}"
        etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:20] + '"'
        _made[0] = (key, etag, body)
    return etag, body


@require_GET
def banner_js(request: HttpRequest) -> HttpResponse:
    etag, body = _banner_script(datamap.load())
    if request.headers.get("If-None-Match") == etag:
        response: HttpResponse = HttpResponseNotModified()
        response["Cache-Control"] = "no-cache"
    else:
        response = script(body)
    response["ETag"] = etag
    return response
