"""tillit's settings. Every value comes from the environment (see docs/configuration.md)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from tillit.env import env_bool, env_int, env_list, env_path, env_secret, env_str

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = env_path("TILLIT_DATA_DIR", Path.cwd() / "tillit-data")
DEMO = env_bool("TILLIT_DEMO", False)
DEBUG = env_bool("TILLIT_DEBUG", False)

# The secret key is made by `tillit init`; the system check tillit.E002 says so when missing.
SECRET_KEY_FILE = DATA_DIR / "keys" / "secret_key"
SECRET_KEY = env_secret("TILLIT_SECRET_KEY") or (
    SECRET_KEY_FILE.read_text().strip() if SECRET_KEY_FILE.exists() else ""
)
# Until `tillit init` has run, a marker stands in so that `init` itself can start; every other
# command stops at the system check tillit.E002.
SECRET_KEY_MISSING = not SECRET_KEY
SECRET_KEY = SECRET_KEY or "missing: run tillit init"
KEK_FILE = env_path("TILLIT_KEK_FILE", DATA_DIR / "keys" / "keyring.json")
# The consent log (docs/log.md): its signing key, made by `tillit init` and kept like the
# keyring; its origin, the name every checkpoint starts with (a URL without its scheme).
LOG_KEY_FILE = env_path("TILLIT_LOG_KEY_FILE", DATA_DIR / "keys" / "log-key.json")
OPERATOR_FILE = env_path("TILLIT_OPERATOR_FILE", PACKAGE_DIR / "operator.toml")
SITE_URL = env_str("TILLIT_SITE_URL", "http://127.0.0.1:8000").rstrip("/")
LOG_ORIGIN_SET = bool(env_str("TILLIT_LOG_ORIGIN", ""))
LOG_ORIGIN = env_str("TILLIT_LOG_ORIGIN", SITE_URL.split("://", 1)[-1] + "/consent-log")
LOG_CHECKPOINT_SECONDS = env_int("TILLIT_LOG_CHECKPOINT_SECONDS", 2, minimum=1)
ALLOWED_HOSTS = env_list("TILLIT_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("TILLIT_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "tillit.console.apps.ConsoleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks_db",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "tillit.core",
    "tillit.ops",
    "tillit.vault",
    "tillit.audit",
    "tillit.subjects",
    "tillit.consent",
    "tillit.partners",
    "tillit.rights",
    "tillit.contact",
    "tillit.offers",
    "tillit.disclosure",
    "tillit.policy",
    "tillit.site",
    "tillit.console",
    "tillit.embed",
    "tillit.worker",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "tillit.site.bodies.ReadableBodies",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "tillit.console.middleware.ConsoleLanguage",
    "tillit.console.middleware.IdleTimeout",
    "tillit.policy.notice.PolicyNotice",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # Last, as django-axes asks: it turns a lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

# The visitor's sign-up and cookie choice (POST) pass only these (core/lean.py): the same
# layers in the same order, less those that serve sessions, staff, static files and GETs, two
# of them in a form that gives the same answers at less cost on these paths.
PUBLIC_POST_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "tillit.core.lean.PathLanguage",
    "tillit.site.bodies.ReadableBodies",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "tillit.core.lean.PolicyOnce",
]

# Staff sign-in: password (argon2), then a TOTP code (django-otp); django-axes locks a user out
# from one address after repeated failures. Only what the lockout needs is kept: no access log.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("TILLIT_STAFF_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("TILLIT_STAFF_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True
AXES_ENABLE_ACCESS_FAILURE_LOG = False
AXES_LOCKOUT_CALLABLE = "tillit.console.security.locked_out"
AXES_CLIENT_IP_CALLABLE = "tillit.core.ratelimit.axes_client_ip"
AXES_VERBOSE = False
OTP_TOTP_ISSUER = "tillit"
# How long a staff member's enrolment link (an invitation, a new authenticator) works.
STAFF_LINK_HOURS = env_int("TILLIT_STAFF_LINK_HOURS", 72, minimum=1)
STAFF_IDLE_MINUTES = env_int("TILLIT_STAFF_IDLE_MINUTES", 30, minimum=1)
CONSOLE_LANGUAGE = env_str("TILLIT_CONSOLE_LANGUAGE", "en")
METRICS_TOKEN = env_secret("TILLIT_METRICS_TOKEN") or ""
READY_MAX_QUEUE_AGE_SECONDS = env_int("TILLIT_READY_MAX_QUEUE_AGE_SECONDS", 900, minimum=10)

ROOT_URLCONF = "tillit.urls"
WSGI_APPLICATION = "tillit.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Before the apps' own: the console's changes to Django's admin templates.
        "DIRS": [PACKAGE_DIR / "console" / "overrides"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tillit.site.context.operator",
                "tillit.consent.context.cookie_banner",
                "tillit.policy.notice.context",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=600)}
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # The same backend, with a health check that looks at the socket before asking.
        DATABASES["default"]["ENGINE"] = "tillit.core.postgresql"
else:
    DATABASES = {
        "default": {
            "ENGINE": "tillit.core.sqlite",
            "NAME": DATA_DIR / "tillit.sqlite3",
            "CONN_MAX_AGE": 600,
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                # secure_delete overwrites freed pages, so shredded ciphertext leaves no trace.
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                    "PRAGMA busy_timeout=20000; PRAGMA secure_delete=ON;"
                ),
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("TILLIT_REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "nb"
LANGUAGES = [("nb", "Norsk bokmål"), ("en", "English")]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = env_str("TILLIT_TIME_ZONE", "Europe/Oslo")
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Sign-up and every other public form are small: anything larger is refused with a 400.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("TILLIT_MAX_BODY_BYTES", 16_384, minimum=1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 50
# The one upload (a partner's answer to an access request, at most 10 MB) stays in memory until
# it is sealed in the vault: never a readable temporary file on disk.
FILE_UPLOAD_HANDLERS = ["django.core.files.uploadhandler.MemoryFileUploadHandler"]
FILE_UPLOAD_MAX_MEMORY_SIZE = 11 * 1024 * 1024

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 8 * 3600
HTTPS = SITE_URL.startswith("https://")
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
CSRF_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_HSTS_SECONDS = env_int("TILLIT_HSTS_SECONDS", 0, minimum=0)
# Behind one reverse proxy (docs/deploy.md): the scheme comes from X-Forwarded-Proto and the
# visitor's address, for the per-IP limits, from the last entry of X-Forwarded-For (the one
# the proxy wrote; anything before it was sent by the client and is not trusted).
BEHIND_PROXY = env_bool("TILLIT_BEHIND_PROXY", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None
X_FRAME_OPTIONS = "DENY"

# Cookie consent: how long a choice holds before the visitor is asked again (at most 12
# months), and the Google tag, which is nowhere on the page unless a measurement id is set.
COOKIE_CONSENT_MONTHS = env_int("TILLIT_COOKIE_CONSENT_MONTHS", 6, minimum=1, maximum=12)
GA_MEASUREMENT_ID = env_str("TILLIT_GA_MEASUREMENT_ID", "")
GA_TAG_URL = env_str("TILLIT_GA_TAG_URL", "https://www.googletagmanager.com/gtag/js")
GA_ORIGINS = (
    sorted(
        {
            "/".join(GA_TAG_URL.split("/")[:3]),
            "https://*.google-analytics.com",
            "https://*.analytics.google.com",
            "https://*.googletagmanager.com",
        }
    )
    if GA_MEASUREMENT_ID
    else []
)

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE, *GA_ORIGINS],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:", *GA_ORIGINS],
    "connect-src": [CSP.SELF, *GA_ORIGINS],
    "frame-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}

# E-mail: files under the data directory in demo mode, SMTP otherwise.
DEFAULT_FROM_EMAIL = env_str("TILLIT_FROM_EMAIL", "tillit <no-reply@example.com>")
DEMO_MAIL_DIR = DATA_DIR / "demo" / "mail"
if DEMO:
    MAILERS = {
        "default": {
            "BACKEND": "tillit.core.mail.EmlFileBackend",
            "OPTIONS": {"directory": str(DEMO_MAIL_DIR)},
        }
    }
else:
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": env_str("TILLIT_SMTP_HOST", "localhost"),
                "port": env_int("TILLIT_SMTP_PORT", 25, minimum=1),
                "username": env_str("TILLIT_SMTP_USER", ""),
                "password": env_secret("TILLIT_SMTP_PASSWORD"),
                "use_tls": env_bool("TILLIT_SMTP_STARTTLS", False),
                "timeout": 20,
            },
        }
    }

# The flow's clocks (hours) and the public forms' limits.
UNCONFIRMED_MAX_AGE_HOURS = env_int("TILLIT_UNCONFIRMED_MAX_AGE_HOURS", 48, minimum=1)
DELIVERY_MAX_AGE_HOURS = env_int("TILLIT_DELIVERY_MAX_AGE_HOURS", 72, minimum=1)
DELIVERY_TIMEOUT_SECONDS = env_int("TILLIT_DELIVERY_TIMEOUT_SECONDS", 10, minimum=1)
DELIVERY_CONCURRENCY = env_int("TILLIT_DELIVERY_CONCURRENCY", 8, minimum=1)
# The conformance suite run from the console (by the worker): where it listens for the partner's
# status callbacks, and the URL the partner is given for them (empty: the listener's own, which
# only a partner on this machine reaches).
_check_host, _, _check_port = env_str("TILLIT_PARTNER_CHECK_LISTEN", "127.0.0.1:0").rpartition(":")
if not _check_host or not _check_port.isdigit() or int(_check_port) > 65535:
    raise ImproperlyConfigured("TILLIT_PARTNER_CHECK_LISTEN must be HOST:PORT, e.g. 0.0.0.0:8099")
PARTNER_CHECK_LISTEN = (_check_host.strip("[]"), int(_check_port))
PARTNER_CHECK_CALLBACK_URL = env_str("TILLIT_PARTNER_CHECK_CALLBACK_URL")
SIGNUPS_PER_IP_PER_HOUR = env_int("TILLIT_SIGNUPS_PER_IP_PER_HOUR", 20, minimum=1)
RIGHTS_CODES_PER_IP_PER_HOUR = env_int("TILLIT_RIGHTS_CODES_PER_IP_PER_HOUR", 20, minimum=1)
RIGHTS_CODES_PER_ADDRESS_PER_HOUR = env_int(
    "TILLIT_RIGHTS_CODES_PER_ADDRESS_PER_HOUR", 5, minimum=1
)
CONTACT_MESSAGES_PER_IP_PER_HOUR = env_int("TILLIT_CONTACT_MESSAGES_PER_IP_PER_HOUR", 10, minimum=1)
CONTACT_RETENTION_DAYS = env_int("TILLIT_CONTACT_RETENTION_DAYS", 30, minimum=1)
RIGHTS_CHECKS_PER_IP_PER_HOUR = env_int("TILLIT_RIGHTS_CHECKS_PER_IP_PER_HOUR", 30, minimum=1)

# Serving: `tillit web` starts this many processes with this many threads each.
WEB_WORKERS = env_int("TILLIT_WEB_WORKERS", 2, minimum=1)
WEB_THREADS = env_int("TILLIT_WEB_THREADS", 2, minimum=1)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["stderr"], "level": env_str("TILLIT_LOG_LEVEL", "INFO").upper()},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django_tasks_db": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        # Each sign-in would log a line; lockouts are in the audit log and the console.
        "axes": {"level": "WARNING"},
    },
}
CSRF_FAILURE_VIEW = "tillit.site.views.csrf_failure"
