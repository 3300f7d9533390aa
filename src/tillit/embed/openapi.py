"""The public API's OpenAPI 3.1 document, made from the data map in force: the countries, the
consents and the cookie categories an operator declares are the schema's enums, so a client
generated from it (or a validator in front of it) knows exactly what tillit will accept."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from tillit import datamap
from tillit.consent.models import CookieAction, CookieSource
from tillit.embed import api
from tillit.site.forms import NAME_MAX


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: str, description: str, **headers: Any) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _ref(schema)}},
    }
    if headers:
        response["headers"] = headers
    return response


RETRY_AFTER = {"description": "Seconds to wait before asking again", "schema": {"type": "integer"}}
LANGUAGE = {
    "type": "string",
    "enum": list(datamap.LANGS),
    "description": "The language of messages and texts (else the Accept-Language header's).",
}


def _errors(*statuses: int) -> dict[str, Any]:
    described = {
        400: "The body breaks a rule; `fields` names what to fix. Nothing was kept.",
        403: "The calling site is not one the operator listed (`[embed] origins`).",
        405: "The wrong method.",
        413: "The body is too large.",
        415: "The body is not sent as application/json.",
        429: "Too many requests from this network address this hour.",
        503: "The database cannot be reached. Nothing was kept.",
    }
    out: dict[str, Any] = {}
    for status in statuses:
        headers = {"Retry-After": RETRY_AFTER} if status in (429, 503) else {}
        out[str(status)] = _json("Error", described[status], **headers)
    return out


def _schemas(dm: datamap.DataMap) -> dict[str, Any]:
    return {
        **_signup_schemas(dm),
        "Error": _error_schema(),
        **_cookie_schemas(dm),
        "SignupForm": {"type": "object", "description": "Fields, countries, consents, policy"},
        "CookieBanner": {"type": "object", "description": "Texts, categories and version"},
    }


def _signup_schemas(dm: datamap.DataMap) -> dict[str, Any]:
    """A sign-up as the data map's fields and consents make it, and its acceptance."""
    purposes = dm.consent_purposes()
    required = [name for name, f in dm.fields.items() if f.required and name in api.TEXT_KEYS]
    return {
        "Signup": {
            "type": "object",
            "additionalProperties": False,
            "required": [*required, *(["consents"] if any(p.required for p in purposes) else [])],
            "properties": {
                "name": {"type": "string", "maxLength": NAME_MAX, "description": "Full name"},
                "email": {"type": "string", "maxLength": 254, "format": "email"},
                "phone": {
                    "type": "string",
                    "maxLength": 40,
                    "description": "A number valid for the country (any common format)",
                },
                "country": {"type": "string", "enum": list(dm.countries)},
                "consents": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": [p.id for p in purposes if p.required],
                    "properties": {
                        p.id: {"type": "boolean", "description": str(p.title)} for p in purposes
                    },
                },
                "language": LANGUAGE,
            },
        },
        "SignupAccepted": {
            "type": "object",
            "required": ["status", "message", "confirm_within_hours"],
            "properties": {
                "status": {"const": "accepted"},
                "message": {"type": "string"},
                "confirm_within_hours": {"type": "integer"},
            },
        },
    }


def _error_schema() -> dict[str, Any]:
    """Every refusal's body: a code, a message and, for a body that breaks a rule, its fields."""
    field_errors = {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        },
    }
    return {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "description": "A stable code, for programs"},
            "message": {"type": "string", "description": "For people, in their language"},
            "detail": {"type": "string"},
            "fields": {"type": "object", "additionalProperties": field_errors},
        },
    }


def _cookie_schemas(dm: datamap.DataMap) -> dict[str, Any]:
    """A cookie choice, with the data map's optional categories, and the proof kept of it."""
    return {
        "CookieChoice": {
            "type": "object",
            "additionalProperties": False,
            "required": ["action", "source", "granted", "version"],
            "properties": {
                "action": {"type": "string", "enum": list(CookieAction.values)},
                "source": {"type": "string", "enum": list(CookieSource.values)},
                "granted": {
                    "type": "array",
                    "uniqueItems": True,
                    "items": {"type": "string", "enum": dm.optional_cookie_categories()},
                },
                "version": {
                    "type": "string",
                    "description": "The banner's version, from GET /api/v1/cookie-banner",
                },
                "consent_id": {"type": "string", "format": "uuid"},
                "token": {
                    "type": "string",
                    "description": "The token the last answer gave this browser, if any",
                },
                "language": LANGUAGE,
            },
        },
        "CookieProof": _cookie_proof_schema(),
    }


def _cookie_proof_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["consent_id", "action", "granted", "refused", "token", "max_age"],
        "properties": {
            "consent_id": {"type": "string", "format": "uuid"},
            "action": {"type": "string"},
            "source": {"type": "string"},
            "granted": {"type": "array", "items": {"type": "string"}},
            "refused": {"type": "array", "items": {"type": "string"}},
            "banner_version": {"type": "string"},
            "policy_version": {"type": "string"},
            "language": {"type": "string"},
            "at": {"type": "string", "format": "date-time"},
            "token": {
                "type": "string",
                "description": "Keep it (the banner keeps it in the tillit_consent cookie) "
                "and send it with the next choice",
            },
            "max_age": {"type": "integer", "description": "Seconds the choice holds"},
        },
    }


def document(dm: datamap.DataMap) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{dm.operator['name']}: sign-up and cookie choice",
            "version": api.VERSION,
            "description": (
                "Sign-ups and cookie choices from the operator's own site, with the same rules "
                "as tillit's own pages. From a browser, only the sites the operator lists may "
                "call it. See docs/embed.md."
            ),
        },
        "servers": [{"url": settings.SITE_URL}],
        "paths": {**_signup_paths(), **_cookie_paths()},
        "components": {"schemas": _schemas(dm)},
    }


def _language() -> list[dict[str, Any]]:
    return [{"name": "language", "in": "query", "required": False, "schema": LANGUAGE}]


def _signup_paths() -> dict[str, Any]:
    return {
        "/api/v1/signups": {
            "post": {
                "operationId": "signUp",
                "summary": "Sign a person up; a confirmation link goes to their address",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("Signup")}},
                },
                "responses": {
                    "202": _json("SignupAccepted", "Accepted: the same for a known address"),
                    **_errors(400, 403, 405, 413, 415, 429, 503),
                },
            }
        },
        "/api/v1/signup-form": {
            "get": {
                "operationId": "describeSignupForm",
                "summary": "The fields, countries and consent texts to show",
                "parameters": _language(),
                "responses": {"200": _json("SignupForm", "The form"), **_errors(403, 405)},
            }
        },
    }


def _cookie_paths() -> dict[str, Any]:
    return {
        "/api/v1/cookie-banner": {
            "get": {
                "operationId": "describeCookieBanner",
                "summary": "The cookie banner's texts, categories and version",
                "parameters": _language(),
                "responses": {"200": _json("CookieBanner", "The banner"), **_errors(403, 405)},
            }
        },
        "/api/v1/cookie-choices": {
            "post": {
                "operationId": "chooseCookies",
                "summary": "Record a visitor's cookie choice; the proof is kept",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("CookieChoice")}},
                },
                "responses": {
                    "201": _json("CookieProof", "Recorded"),
                    **_errors(400, 403, 405, 413, 415, 503),
                },
            }
        },
    }


def served(request: HttpRequest) -> HttpResponse:
    response = JsonResponse(
        document(datamap.load()), json_dumps_params={"indent": 2, "ensure_ascii": False}
    )
    # A description, not data: any site may read it.
    response["Access-Control-Allow-Origin"] = "*"
    return response
