"""Loaded as a pytest plugin (-p tests.environment) so that it runs before Django's settings
load: every run gets a fresh data directory with its own keys."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

DATA_DIR = Path(tempfile.mkdtemp(prefix="tillit-test-"))
os.environ["TILLIT_DATA_DIR"] = str(DATA_DIR)
os.environ["TILLIT_SITE_URL"] = "http://testserver"
os.environ.pop("TILLIT_DEMO", None)
os.environ.pop("TILLIT_OPERATOR_FILE", None)
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _make_keys() -> None:
    from tillit.vault import keys

    path = DATA_DIR / "keys" / "keyring.json"
    keys.write(keys.generate(), path)
    (DATA_DIR / "keys" / "secret_key").write_text("test-secret-key-" + "x" * 40)
    from tillit_partner import note

    from tillit.audit import logkey

    logkey.write(
        logkey.LogKeys(active=note.Signer.generate("testserver/consent-log")),
        DATA_DIR / "keys" / "log-key.json",
    )


_make_keys()
(DATA_DIR / "static").mkdir()
