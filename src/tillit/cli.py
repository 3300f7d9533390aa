"""The `tillit` command: Django's management commands, with the product's names."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from django.utils.translation import gettext

LANGUAGES = ("nb", "en")
# A shell whose locale is Norwegian in either written form (nb_NO, no_NO, nn_NO) gets nb.
NORWEGIAN = ("nb", "no", "nn")
# Long-running processes that serve visitors and partners, each in their own language: the
# command's language is not theirs, and their default stays the site's (LANGUAGE_CODE).
SERVICES = ("web", "worker", "reference-partner")
# Commands typed with a hyphen, as tillit names them, whose Django name has an underscore.
HYPHENATED = {"partner-check": "partner_check"}


def gettext_noop(text: str) -> str:
    """Marks text for makemessages, as Django's gettext_noop does; Django's needs the settings,
    which are not loaded yet when this module is."""
    return text


# Each command's synopsis (names and options: not language) and what it does; a description
# too long for one line carries its own line break, in each language.
COMMANDS = (
    (
        "init [--demo]",
        gettext_noop("make the data directory, keys and database (demo: a partner too)"),
    ),
    (
        "run [--demo] [--port P]",
        gettext_noop("site, worker (and in demo mode the reference partner on P+1)"),
    ),
    ("web [--port P]", gettext_noop("the site and staff console under a production WSGI server")),
    ("worker", gettext_noop("deliver leads, send e-mail, apply retention rules")),
    ("reference-partner --port N", gettext_noop("the reference partner, a separate service")),
    ("partners add|list|go-live|testing|disable|enable|rotate-secret", ""),
    (
        "partner-check URL | --partner SLUG",
        gettext_noop(
            "check a partner against the protocol with signed test traffic\n"
            "(test identities only, erased at the end)"
        ),
    ),
    (
        "staff add|list|role|disable|enable|reset-otp|unlock|code",
        gettext_noop("staff accounts: a role, a password and an authenticator"),
    ),
    (
        "policy publish|list",
        gettext_noop("publish the privacy policy as it is now (a new version)"),
    ),
    ("keys rotate", gettext_noop("new key-encryption key; re-wrap every data key")),
    (
        "audit verify [--offline]",
        gettext_noop(
            "rebuild the consent log and check every hash, checkpoint and\n"
            "cosignature against it, then ask the witnesses"
        ),
    ),
    (
        "log integrate|verify-receipt FILE|rotate-key|witness add|list|remove|alarms|resolve",
        gettext_noop("the consent log: integrate now, check a receipt offline, ..."),
    ),
    ("prune", gettext_noop("apply the retention rules now")),
    (
        "backup [FILE] / restore FILE --yes",
        gettext_noop("copy the SQLite database while it runs / put a copy back"),
    ),
    (
        "embed [--page]",
        gettext_noop("the snippets for your own site (cookie banner, sign-up form)"),
    ),
    (
        "scan [URL]",
        gettext_noop(
            "check cookies, storage and third-party requests against the\n"
            "data map, with no choice, after reject and after accept"
        ),
    ),
    (
        "check [--url URL]",
        gettext_noop("system checks, then prove the privacy policy true of the site"),
    ),
    ("migrate, changepassword, ...", gettext_noop("Django's own commands")),
)
SYNOPSIS_WIDTH = 26
HEADER = gettext_noop("usage: tillit COMMAND [options]")
FOOTER = gettext_noop("Configuration comes from the environment: see docs/configuration.md.")


def usage(translate: Callable[[str], str] = gettext) -> str:
    """The command's help; its descriptions start in one column whatever their language. A
    synopsis too long for its column has its description on the lines under it."""
    lines = [translate(HEADER), ""]
    indent = " " * (2 + SYNOPSIS_WIDTH + 1)
    for synopsis, does in COMMANDS:
        said = translate(does).splitlines() if does else []
        if said and len(synopsis) <= SYNOPSIS_WIDTH:
            lines.append(f"  {synopsis:{SYNOPSIS_WIDTH}} {said.pop(0)}")
        else:
            lines.append(f"  {synopsis}")
        lines += [indent + line for line in said]
    lines += ["", translate(FOOTER)]
    return "\n".join(lines) + "\n"


def language() -> str:
    """The language the command speaks: TILLIT_CLI_LANGUAGE (nb or en); else the shell's locale
    as Unix programs read it, the first of LC_ALL, LC_MESSAGES and LANG that is set (Norwegian
    means nb, anything else en); else English."""
    from django.core.exceptions import ImproperlyConfigured

    from tillit.env import env_str

    chosen = env_str("TILLIT_CLI_LANGUAGE").strip().lower()
    if chosen:
        if chosen not in LANGUAGES:
            raise ImproperlyConfigured(f"TILLIT_CLI_LANGUAGE must be nb or en, not {chosen!r}")
        return chosen
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if locale := os.environ.get(name, ""):
            return "nb" if locale.lower().startswith(NORWEGIAN) else "en"
    return "en"


def speak(lang: str) -> bool:
    """Set Django up and make `lang` the active language, once, before the command runs. False
    when the settings do not load: Django's own start then says why, as it always has."""
    import django
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.utils import translation

    try:
        settings.INSTALLED_APPS  # noqa: B018  (loads the settings)
    except (ImproperlyConfigured, ImportError):
        return False
    django.setup()
    translation.activate(lang)
    return True


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args else "help"
    if command == "reference-partner":
        os.environ["DJANGO_SETTINGS_MODULE"] = "tillit.reference_partner.settings"
        args[0] = "serve_partner"
        # Its database lives in its data directory, which Django's checks open before the
        # command runs: made here first, private to its owner.
        from django.conf import settings

        settings.DATA_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
    else:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tillit.settings")
        # Demo mode changes settings (e-mail to files), so it must be known before they load.
        if command in ("init", "run") and "--demo" in args:
            os.environ["TILLIT_DEMO"] = "true"
    if command in ("-h", "--help", "help"):
        print(usage() if speak(language()) else usage(lambda text: text))
        return
    if command not in SERVICES:
        speak(language())
    if command in HYPHENATED:
        args[0] = HYPHENATED[command]
    from django.core.management import execute_from_command_line

    execute_from_command_line(["tillit", *args])
