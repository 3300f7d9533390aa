"""Cookie consent: the choice a browser holds, how a new one is checked, and its proof.

The consent cookie holds a random consent id, the accepted categories and the banner version,
signed by the server: a missing, corrupt, forged, expired or outdated cookie reads as "no
choice", so the visitor is asked again and nothing optional runs. Every choice is appended to
the CookieConsent log with what was shown and how it was given.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse

from tillit import datamap
from tillit.consent.models import CookieAction, CookieConsent, CookieSource
from tillit.core import lean, rows
from tillit.policy import versions

COOKIE_NAME = datamap.CONSENT_COOKIE
SALT = "tillit.consent.cookie"
MAX_BODY = 2048
FIELDS = {"action", "source", "granted", "version", "consent_id"}
ACTIONS = frozenset(CookieAction.values)
SOURCES = frozenset(CookieSource.values)


class BadChoice(Exception):
    """A consent post that is malformed, forged or stale; the message says which (English, for
    the JSON answer; the page translates the code)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Choice:
    consent_id: uuid.UUID
    granted: tuple[str, ...]
    version: str


_embeds: dict[str, Any] = {"until": 0.0, "hosts": [], "generation": 0}
# The banner's version for one data map and one reading of the embeds: (key, version).
_version: list[tuple[Any, str]] = [(None, "")]


def embed_hosts() -> list[dict[str, str]]:
    """Partners' embeds, third parties declared by the partner records (read at most every
    30 seconds)."""
    if time.monotonic() >= _embeds["until"]:
        from tillit.partners.models import Partner

        try:
            hosts = [
                {"host": urlsplit(p.embed_url).netloc, "provider": p.name,
                 "category": "third_party"}
                for p in Partner.objects.compliant().exclude(embed_url="").order_by("slug")
            ]  # fmt: skip
        except DatabaseError:
            # The banner still works while the database is away, with the hosts last read
            # (asked again in a few seconds).
            _embeds["until"] = time.monotonic() + 5
            return list(_embeds["hosts"])
        if hosts != _embeds["hosts"]:
            _embeds["generation"] += 1
        _embeds["hosts"] = hosts
        _embeds["until"] = time.monotonic() + 30
    return list(_embeds["hosts"])


def forget_embeds() -> None:
    """Read the partners' embeds afresh on the next call (tests, and after a change here)."""
    _embeds["until"] = 0.0


def version(dm: datamap.DataMap) -> str:
    """The banner's version: the data map's (texts, categories, cookies, third parties) and the
    partners' embedded hosts. A new partner page to load means asking everyone again."""
    hosts = embed_hosts()
    key = (dm.banner_version(), _embeds["generation"])
    known, value = _version[0]
    if known != key:
        value = dm.banner_version()
        if hosts:
            listed = json.dumps(hosts, sort_keys=True)
            value = hashlib.sha256(f"{value}\n{listed}".encode()).hexdigest()[:16]
        _version[0] = (key, value)
    return value


def max_age() -> timedelta:
    return timedelta(days=round(settings.COOKIE_CONSENT_MONTHS * 365 / 12))


def held(request: HttpRequest) -> Choice | None:
    """The choice the browser's cookie holds, if the cookie is ours and unaltered, whatever its
    age or banner version (its consent id links the visitor's history)."""
    return unsigned(request.COOKIES.get(COOKIE_NAME))


def unsigned(raw: str | None) -> Choice | None:
    """The choice a consent token holds (the cookie's value; on an operator's own site, the
    token the banner keeps), if we signed it and nobody altered it."""
    if not raw or not isinstance(raw, str):
        return None
    try:
        data = signing.loads(raw, salt=SALT)
        return Choice(uuid.UUID(data["i"]), tuple(data["g"]), str(data["v"]))
    except (signing.BadSignature, KeyError, TypeError, ValueError, AttributeError):
        return None


def read(request: HttpRequest, dm: datamap.DataMap | None = None) -> Choice | None:
    """The browser's choice if it still holds: signed by us, younger than the re-ask period,
    given under the current banner, naming only known categories. None means ask again."""
    return current(request.COOKIES.get(COOKIE_NAME, ""), dm)


def current(raw: str, dm: datamap.DataMap | None = None) -> Choice | None:
    """The choice a token holds if it still holds (see read)."""
    choice = unsigned(raw)
    if choice is None or not still_holds(raw):
        return None
    dm = dm or datamap.load()
    if choice.version != version(dm):
        return None
    if not set(choice.granted) <= set(dm.optional_cookie_categories()):
        return None
    return choice


def gpc(request: HttpRequest) -> bool:
    """The browser sends Global Privacy Control: a "no" to everything optional."""
    return request.headers.get("Sec-GPC", "").strip() == "1"


def parse(request: HttpRequest, known: Choice | None) -> dict[str, Any]:
    """A consent post's body (JSON, or the settings page's form) as a dict for check()."""
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > MAX_BODY:
        raise BadChoice("too_large", f"the body must be at most {MAX_BODY} bytes")
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise BadChoice("malformed", "the body is not valid JSON") from None
        if not isinstance(data, dict):
            raise BadChoice("malformed", "the body must be a JSON object")
        return data
    form = request.POST
    optional = datamap.load().optional_cookie_categories()
    what = form.get("choice", "")
    granted = {"accept": optional, "reject": []}.get(what, form.getlist("granted"))
    # Named as the banner names them: all, none (a withdrawal if something was held), or some.
    if set(granted) >= set(optional):
        action = "accept_all"
    elif granted:
        action = "custom"
    else:
        action = "withdraw" if known and known.granted else "reject_all"
    return {
        "action": action,
        "source": "settings",
        "granted": granted,
        "version": form.get("version", ""),
    }


def check(data: dict[str, Any], known: Choice | None, dm: datamap.DataMap) -> dict[str, Any]:
    """Validate a choice against the current banner and the choice the browser holds."""
    unknown = set(data) - FIELDS
    if unknown:
        raise BadChoice("unknown_field", f"unknown field(s): {', '.join(sorted(unknown))}")
    action, source, granted = data.get("action"), data.get("source"), data.get("granted")
    if not isinstance(action, str) or action not in ACTIONS:
        raise BadChoice("bad_action", f"action must be one of {', '.join(CookieAction.values)}")
    if not isinstance(source, str) or source not in SOURCES:
        raise BadChoice("bad_source", f"source must be one of {', '.join(CookieSource.values)}")
    if not isinstance(granted, list) or not all(isinstance(g, str) for g in granted):
        raise BadChoice("bad_granted", "granted must be a list of category names")
    optional = dm.optional_cookie_categories()
    strangers = set(granted) - set(optional)
    if strangers:
        raise BadChoice("unknown_category", f"unknown categories: {', '.join(sorted(strangers))}")
    if data.get("version") != version(dm):
        raise BadChoice("stale", "the banner has changed since this page was loaded")
    if action == "accept_all" and set(granted) != set(optional):
        raise BadChoice("inconsistent", "accept_all must grant every optional category")
    if action in ("reject_all", "withdraw") and granted:
        raise BadChoice("inconsistent", f"{action} grants nothing")
    if action == "withdraw" and not (known and known.granted):
        raise BadChoice("inconsistent", "there is no consent to withdraw")
    if source == "gpc" and granted:
        raise BadChoice("inconsistent", "Global Privacy Control never grants consent")
    claimed = data.get("consent_id")
    if claimed is not None and (known is None or str(claimed) != str(known.consent_id)):
        raise BadChoice("wrong_id", "consent_id is not the one this browser holds")
    return {
        "action": action,
        "source": source,
        "granted": [c for c in optional if c in granted],
        "refused": [c for c in optional if c not in granted],
    }


def record(
    checked: dict[str, Any], known: Choice | None, dm: datamap.DataMap, language: str
) -> CookieConsent:
    proof = CookieConsent(
        consent_id=known.consent_id if known else uuid.uuid4(),
        banner_version=version(dm),
        policy_version=versions.current_label(),
        language=language,
        **checked,
    )
    # One INSERT without the ORM's compiling: this is the banner's hot path.
    rows.insert(proof)
    return proof


def token(proof: CookieConsent) -> str:
    """The signed value that holds a choice: the consent cookie's, and the token the banner on
    an operator's own site keeps (its payload, before the first colon, is base64url JSON:
    {"i": consent id, "g": granted, "v": banner version})."""
    return signing.dumps(
        {"i": proof.consent_id.hex, "g": proof.granted, "v": proof.banner_version},
        salt=SALT,
        compress=False,
    )


def still_holds(raw: str) -> bool:
    """A token is younger than the re-ask period."""
    try:
        signing.loads(raw, salt=SALT, max_age=max_age())
    except signing.BadSignature:  # includes SignatureExpired
        return False
    return True


def remember(response: HttpResponse, request: HttpRequest, proof: CookieConsent) -> None:
    """Set the signed consent cookie, and expire the analytics cookies when they are refused."""
    value = token(proof)
    seconds = int(max_age().total_seconds())
    response.set_cookie(
        COOKIE_NAME,
        value,
        max_age=seconds,
        expires=lean.date_in(seconds),  # what set_cookie would write, made once a second
        secure=request.is_secure(),
        httponly=True,
        samesite="Lax",
    )
    if "analytics" not in proof.granted:
        for name in request.COOKIES:
            if name == "_ga" or name.startswith("_ga_"):
                response.delete_cookie(name)


def history(request: HttpRequest) -> list[CookieConsent]:
    """This browser's own choices, oldest first (found by the consent id in its cookie)."""
    known = held(request)
    if known is None:
        return []
    return list(CookieConsent.objects.filter(consent_id=known.consent_id))
