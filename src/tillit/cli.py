"""The `tillit` command: Django's management commands, with the product's names."""

from __future__ import annotations

import os
import sys

USAGE = """usage: tillit COMMAND [options]

  init [--demo]              make the data directory, keys and database (demo: a partner too)
  run [--demo] [--port P]    site, worker (and in demo mode the reference partner on P+1)
  web [--port P]             the site and staff console under a production WSGI server
  worker                     deliver leads, send e-mail, apply retention rules
  reference-partner --port N the reference partner, a separate service
  partners add|list|disable|enable
  staff add|list|role|disable|enable|reset-otp|unlock|code
                             staff accounts: a role, a password and an authenticator
  policy publish|list        publish the privacy policy as it is now (a new version)
  keys rotate                new key-encryption key; re-wrap every data key
  audit verify [--offline]   rebuild the consent log and check every hash, checkpoint and
                             cosignature against it, then ask the witnesses
  log integrate|verify-receipt FILE|rotate-key|witness add|list|remove|alarms|resolve
                             the consent log: integrate now, check a receipt offline, ...
  prune                      apply the retention rules now
  backup [FILE] / restore FILE --yes
                             copy the SQLite database while it runs / put a copy back
  embed [--page]             the snippets for your own site (cookie banner, sign-up form)
  scan [URL]                 check cookies, storage and third-party requests against the
                             data map, with no choice, after reject and after accept
  check [--url URL]          system checks, then prove the privacy policy true of the site
  migrate, changepassword, ...   Django's own commands

Configuration comes from the environment: see docs/configuration.md.
"""


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return
    if args[0] == "reference-partner":
        os.environ["DJANGO_SETTINGS_MODULE"] = "tillit.reference_partner.settings"
        args[0] = "serve_partner"
    else:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tillit.settings")
        # Demo mode changes settings (e-mail to files), so it must be known before they load.
        if args[0] in ("init", "run") and "--demo" in args:
            os.environ["TILLIT_DEMO"] = "true"
    from django.core.management import execute_from_command_line

    execute_from_command_line(["tillit", *args])
