"""The reference partner: a separate service, with its own settings and its own database.

It plays the processor: it verifies tillit's signatures, stores the leads it receives (it is
allowed to: it is the processor) and answers with signed receipts. Environment:
PARTNER_DATA_DIR (default $TILLIT_DATA_DIR/demo/partner), PARTNER_SECRET (or PARTNER_SECRET_FILE,
default <data dir>/secret), PARTNER_NAME, PARTNER_DSR_HOLD_SECONDS, PARTNER_ANSWER_DELAY_MS (a
slow partner: each new lead is stored, then answered this many milliseconds later; default 0).

It is also a witness of transparency logs (witness.py, the C2SP tlog-witness protocol under
<endpoint>/witness): PARTNER_WITNESS_NAME (its key name, default witness.demo-partner.example),
PARTNER_WITNESS_KEY_FILE (its Ed25519 cosignature key as a note skey, default
<data dir>/witness.key, made readable by its owner only at the first request that needs it if
missing), and the logs it witnesses, as note verifier keys whose key name is the log's origin:
PARTNER_WITNESS_LOGS (comma-separated) or, when that is unset, PARTNER_WITNESS_LOGS_FILE
(default <data dir>/witness-logs; one vkey a line, blank lines and # comments ignored). Both are
read at start; a vkey that does not parse stops the start.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from tillit_partner import note

# A partner's own project reads its environment its own way; these few lines stand in for that,
# so the example uses nothing of tillit's but the partner library. Each name read is kept in
# `variables_read` (tests/test_configuration.py checks that docs/configuration.md lists them).
variables_read: set[str] = set()


def env_str(name: str, default: str = "") -> str:
    variables_read.add(name)
    return os.environ.get(name, default)


def env_path(name: str, default: Path) -> Path:
    raw = env_str(name)
    return Path(raw).expanduser().resolve() if raw else default


def env_list(name: str, default: list[str]) -> list[str]:
    items = [item.strip() for item in env_str(name).split(",") if item.strip()]
    return items or default


def env_secret(name: str) -> str:
    """NAME, or the contents of the file NAME_FILE names (a container's secret)."""
    if file_name := env_str(f"{name}_FILE"):
        try:
            return Path(file_name).read_text().strip()
        except OSError as error:
            raise ImproperlyConfigured(f"{name}_FILE cannot be read: {error.strerror}") from None
    return env_str(name)


_tillit_data = env_path("TILLIT_DATA_DIR", Path.cwd() / "tillit-data")
DATA_DIR = env_path("PARTNER_DATA_DIR", _tillit_data / "demo" / "partner")
SECRET_FILE = DATA_DIR / "secret"
PARTNER_SECRET = env_secret("PARTNER_SECRET") or (
    SECRET_FILE.read_text().strip() if SECRET_FILE.exists() else ""
)
PARTNER_NAME = env_str("PARTNER_NAME", "Demo Megler AS")
# Rights requests wait this long as `pending` before they are carried out (0: at once), so that
# polling, callbacks and cancellation can be seen working.
PARTNER_DSR_HOLD_SECONDS = int(env_str("PARTNER_DSR_HOLD_SECONDS", "0"))
# A partner that stores a lead and answers late: the window in which a sender that dies has
# delivered a lead it has not yet recorded (tests and fault campaigns widen it with this).
PARTNER_ANSWER_DELAY_MS = int(env_str("PARTNER_ANSWER_DELAY_MS", "0"))


def _log_vkeys(variable: str, vkeys: list[str]) -> list[str]:
    """The witnessed logs' verifier keys, each checked now so that a typo stops the start."""
    for vkey in vkeys:
        try:
            note.Verifier.from_vkey(vkey)
        except note.NoteError as error:
            raise ImproperlyConfigured(f"{variable}: {vkey!r} is not a vkey: {error}") from None
    return vkeys


def _vkey_lines(path: Path) -> list[str]:
    try:
        text = path.read_text() if path.exists() else ""
    except OSError as error:
        raise ImproperlyConfigured(f"PARTNER_WITNESS_LOGS_FILE: {error.strerror}") from None
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


PARTNER_WITNESS_NAME = env_str("PARTNER_WITNESS_NAME", "witness.demo-partner.example")
PARTNER_WITNESS_KEY_FILE = env_path("PARTNER_WITNESS_KEY_FILE", DATA_DIR / "witness.key")
PARTNER_WITNESS_LOGS_FILE = env_path("PARTNER_WITNESS_LOGS_FILE", DATA_DIR / "witness-logs")
# Several vkeys may share a name: a log's old and new key while it rotates.
_listed_logs = env_list("PARTNER_WITNESS_LOGS", [])
PARTNER_WITNESS_LOGS = (
    _log_vkeys("PARTNER_WITNESS_LOGS", _listed_logs)
    if _listed_logs
    else _log_vkeys("PARTNER_WITNESS_LOGS_FILE", _vkey_lines(PARTNER_WITNESS_LOGS_FILE))
)
# Its own session/CSRF key; it has no forms, so a fresh one per start is fine.
SECRET_KEY = secrets.token_urlsafe(32)
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = ["django.contrib.contenttypes", "tillit.reference_partner"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "tillit.reference_partner.urls"
WSGI_APPLICATION = "tillit.reference_partner.wsgi.application"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": DATA_DIR / "partner.sqlite3",
        "CONN_MAX_AGE": 600,
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
DATA_UPLOAD_MAX_MEMORY_SIZE = 65_536
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}
