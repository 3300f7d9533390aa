"""The reference partner: a separate service, with its own settings and its own database.

It plays the processor: it verifies tillit's signatures, stores the leads it receives (it is
allowed to: it is the processor) and answers with signed receipts. Environment:
PARTNER_DATA_DIR (default $TILLIT_DATA_DIR/demo/partner), PARTNER_SECRET (or PARTNER_SECRET_FILE,
default <data dir>/secret), PARTNER_NAME, PARTNER_DSR_HOLD_SECONDS.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from tillit.env import env_path, env_secret, env_str

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
