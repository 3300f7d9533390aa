"""Configuration mistakes, as system checks with stable ids (listed in docs/configuration.md)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from tillit import datamap
from tillit.vault import keys


@register(Tags.security, deploy=False)
def keys_present(app_configs: Any, **kwargs: Any) -> list[Error]:
    errors = []
    try:
        keys.load()
    except keys.KeyringMissing:
        errors.append(
            Error(
                f"no keyring at {settings.KEK_FILE}",
                hint="run 'tillit init', or set TILLIT_KEK_FILE",
                id="tillit.E001",
            )
        )
    except (ValueError, KeyError):
        errors.append(
            Error(
                f"the keyring at {settings.KEK_FILE} cannot be read",
                hint="restore it from your key backup",
                id="tillit.E001",
            )
        )
    else:
        if settings.KEK_FILE.stat().st_mode & 0o077:
            errors.append(
                Error(
                    f"the keyring at {settings.KEK_FILE} is readable by others",
                    hint=f"chmod 600 {settings.KEK_FILE}",
                    id="tillit.E003",
                )
            )
    if settings.SECRET_KEY_MISSING:
        errors.append(
            Error(
                "no secret key",
                hint="run 'tillit init', or set TILLIT_SECRET_KEY",
                id="tillit.E002",
            )
        )
    return errors


@register()
def data_map_valid(app_configs: Any, **kwargs: Any) -> list[Error]:
    return [
        Error(
            f"{settings.OPERATOR_FILE}, line {line}: {message}",
            hint="fix the data map (see the example operator.toml)",
            id="tillit.E010",
        )
        for line, message in datamap.problems()
    ]


@register()
def every_country_has_a_law(app_configs: Any, **kwargs: Any) -> list[Error]:
    """P33: a person's rights, deadline and authority follow from their law, so a country the
    sign-up serves (or the operator's own) without one in the data map stops the start."""
    try:
        dm = datamap.load()
    except (datamap.DataMapError, OSError):
        return []  # tillit.E010 says what is wrong with the file
    return [
        Error(
            f"{settings.OPERATOR_FILE}: {country} is served, but no law in [laws] covers it",
            hint=f'add "{country}" to the countries of a [laws.NAME] table, or add a law for it '
            "(see docs/configuration.md, Laws)",
            id="tillit.E011",
        )
        for country in dm.lawless_countries()
    ]


@register(Tags.security)
def production_safety(app_configs: Any, **kwargs: Any) -> list[Warning | Error]:
    found: list[Warning | Error] = []
    if settings.DEBUG and not settings.DEMO:
        found.append(
            Error(
                "TILLIT_DEBUG is on outside demo mode",
                hint="debug pages can show request data; unset TILLIT_DEBUG",
                id="tillit.E020",
            )
        )
    if not settings.DEMO and not settings.SITE_URL.startswith("https://"):
        found.append(
            Warning(
                "TILLIT_SITE_URL is not https outside demo mode",
                hint="links in e-mails would travel in the clear",
                id="tillit.W021",
            )
        )
    return found


@register()
def partner_endpoints(app_configs: Any, databases: Any = None, **kwargs: Any) -> list[Warning]:
    """Live partners' endpoints must be https (http only on loopback, for the reference
    partner). A partner in testing gets no leads, and cannot go live with such an endpoint."""
    if not databases:
        return []
    from django.db.utils import DatabaseError

    from tillit.partners.models import Partner

    found = []
    try:
        partners = list(Partner.objects.filter(active=True, testing=False))
    except DatabaseError:
        return []
    for partner in partners:
        if not partner.endpoint_is_safe():
            found.append(
                Warning(
                    f"partner {partner.slug!r} has an endpoint that is not https",
                    hint="leads would travel in the clear; use https",
                    id="tillit.W030",
                )
            )
    return found


@register(Tags.security, deploy=False)
def log_key_present(app_configs: Any, **kwargs: Any) -> list[Warning]:
    """Without the consent log's key the worker cannot sign checkpoints; the site still runs
    (events keep arriving, and wait to be integrated), so this is a warning."""
    from tillit.audit import logkey

    path = settings.LOG_KEY_FILE
    try:
        keys = logkey.load()
    except logkey.LogKeyMissing:
        hint = "run 'tillit migrate' (or 'tillit init'), or copy it here with the keyring"
        return [Warning(f"no consent log signing key at {path}", hint=hint, id="tillit.W040")]
    except (ValueError, KeyError):
        return [
            Warning(
                f"the consent log signing key at {path} cannot be read",
                hint="restore it from your key backup",
                id="tillit.W040",
            )
        ]
    problems = []
    if path.stat().st_mode & 0o077:
        problems.append(
            Warning(f"{path} is readable by others", hint=f"chmod 600 {path}", id="tillit.W041")
        )
    if settings.LOG_ORIGIN_SET and keys.origin != settings.LOG_ORIGIN:
        problems.append(
            Warning(
                f"the consent log is named {keys.origin!r}, but TILLIT_LOG_ORIGIN says "
                f"{settings.LOG_ORIGIN!r}",
                hint="a log keeps its name for life: unset TILLIT_LOG_ORIGIN or set it back",
                id="tillit.W042",
            )
        )
    return problems
