"""Anagen settings, read from environment variables.

Safe defaults are for the local demo only: production must set ANAGEN_SECRET_KEY,
ANAGEN_ALLOWED_HOSTS and DATABASE_URL (see docs/deployment.md).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent
VAR_DIR = Path(os.environ.get("ANAGEN_VAR_DIR", Path.cwd() / "var")).resolve()


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {value!r}")


def env_int(name: str, default: int, *, minimum: int) -> int:
    """A whole number of at least ``minimum``: "abc" was a bare ValueError that did not name
    the variable, and ANAGEN_LOGIN_FAILURE_LIMIT=0 locked every sign-in out."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or number < minimum:
        raise ImproperlyConfigured(
            f"{name} must be a whole number of at least {minimum}, got {value!r}"
        )
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def _secret_key(debug: bool) -> str:
    key = os.environ.get("ANAGEN_SECRET_KEY")
    if key:
        # A guessable key lets anyone sign session cookies: with debugging off (production)
        # it stops the start, as `check --deploy` judges keys (it only warned, and was not run).
        if not debug and (len(key) < 50 or len(set(key)) < 5 or key.startswith("django-insecure-")):
            raise ImproperlyConfigured(
                "ANAGEN_SECRET_KEY is too weak: use at least 50 random characters, e.g. the "
                "output of `python3 -c 'import secrets; print(secrets.token_urlsafe(64))'`"
            )
        return key
    # Demo convenience: a random key persisted under var/ so sessions survive restarts.
    # Several app servers must share one key, so production sets ANAGEN_SECRET_KEY.
    path = VAR_DIR / "secret_key"
    if path.exists():
        return path.read_text().strip()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(64)
    path.write_text(key)
    path.chmod(0o600)
    return key


DEBUG = env_bool("ANAGEN_DEBUG", False)
SECRET_KEY = _secret_key(DEBUG)
ALLOWED_HOSTS = env_list("ANAGEN_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("ANAGEN_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "ninja",  # serves the API docs' Swagger UI from static files (the CSP allows no CDN)
    "simple_history",
    "axes",
    "django_tasks_db",
    "anagen.core",
    "anagen.accounts",
    "anagen.patients",
    "anagen.assessment",
    "anagen.products",
    "anagen.monitoring",
    "anagen.imaging",
    "anagen.treatments",
    "anagen.outcomes",
    "anagen.interop",
    "anagen.reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "anagen.core.middleware.QueryStringNulMiddleware",
    "anagen.core.middleware.MethodNotAllowedPageMiddleware",
    "anagen.api.middleware.ApiBodyMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "anagen.core.middleware.NoStoreWhenSignedInMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "anagen.accounts.middleware.ActiveClinicMiddleware",
    "anagen.accounts.middleware.PasswordMustChangeMiddleware",
    "anagen.core.middleware.AtomicWritesMiddleware",
    "anagen.patients.middleware.PatientAccessLogMiddleware",
    # Axes must be last: it turns lockouts into responses.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "anagen.urls"
WSGI_APPLICATION = "anagen.wsgi.application"
ASGI_APPLICATION = "anagen.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "anagen.accounts.context_processors.clinic_context",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'anagen.sqlite3'}"),
        conn_max_age=env_int("ANAGEN_DB_CONN_MAX_AGE", 0, minimum=0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers work while one writer commits; the busy timeout makes a second
    # writer wait instead of failing with "database is locked"; IMMEDIATE takes the
    # write lock at BEGIN so two read-then-write transactions cannot deadlock.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth ---------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "core:dashboard"
LOGOUT_REDIRECT_URL = "accounts:login"

# Sessions expire after inactivity (refreshed on each request) and when the browser closes.
SESSION_COOKIE_AGE = env_int("ANAGEN_SESSION_SECONDS", 30 * 60, minimum=60)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# Repeated login failures: lock the username+IP pair after 5 failures for 15 minutes.
AXES_FAILURE_LIMIT = env_int("ANAGEN_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_VERBOSE = False

# --- HTTPS and headers --------------------------------------------------------------------
HTTPS = env_bool("ANAGEN_HTTPS", not DEBUG)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = 31536000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
# Behind a proxy (load balancer) also the client's address comes from it (core/http.py).
ANAGEN_BEHIND_PROXY = env_bool("ANAGEN_BEHIND_PROXY", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if ANAGEN_BEHIND_PROXY else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:", "blob:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}

# Request size limits: bodies above these get 400 (forms/JSON) or 413-style errors.
FORM_RENDERER = "anagen.core.forms.FormRenderer"  # shows refused NUL characters as U+FFFD
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("ANAGEN_MAX_BODY_BYTES", 2 * 1024 * 1024, minimum=1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000

# --- Static and media ---------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("ANAGEN_STATIC_ROOT", VAR_DIR / "static"))
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.environ.get("ANAGEN_MEDIA_ROOT", VAR_DIR / "media"))
_storage_backend = os.environ.get("ANAGEN_STORAGE", "local")
_default_storage: dict[str, Any]
if _storage_backend == "local":
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
elif _storage_backend == "s3":
    # django-storages reads AWS_STORAGE_BUCKET_NAME, AWS_S3_ENDPOINT_URL, credentials etc.
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ.get("ANAGEN_S3_BUCKET", ""),
            "endpoint_url": os.environ.get("ANAGEN_S3_ENDPOINT_URL") or None,
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
else:
    raise ImproperlyConfigured(f"ANAGEN_STORAGE must be 'local' or 's3', got {_storage_backend!r}")
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# Audit-trail reasons quote clinicians' written reasons in full: no length limit.
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True

# --- Background tasks (image analysis) -----------------------------------------------------
# "immediate" (default: the demo and a single server) runs a task in the request that
# enqueued it; "database" stores it for `anagen db_worker` processes (production).
TASK_BACKENDS = {
    "immediate": "django.tasks.backends.immediate.ImmediateBackend",
    "database": "django_tasks_db.DatabaseBackend",
}
_task_backend = os.environ.get("ANAGEN_TASKS", "immediate")
if _task_backend not in TASK_BACKENDS:
    raise ImproperlyConfigured(
        f"ANAGEN_TASKS must be one of {', '.join(TASK_BACKENDS)}, not {_task_backend!r}"
    )
TASKS = {"default": {"BACKEND": TASK_BACKENDS[_task_backend]}}

# --- Misc ---------------------------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = os.environ.get("ANAGEN_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"refusal": {"()": "anagen.core.logfilters.RefusalWithoutTraceback"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("ANAGEN_LOG_LEVEL", "WARNING")},
    # Refused requests: one line each, once (Django's own console handler repeated them
    # under ANAGEN_DEBUG, with the traceback).
    "loggers": {
        "django.request": {"handlers": ["console"], "propagate": False, "filters": ["refusal"]},
        # Under debugging Django prints every task's start and end ("Task id=... state=RUNNING"),
        # which buried the demo logins; failures still show.
        "django.tasks": {"level": "WARNING"},
    },
}

ANAGEN_PAGE_SIZE = 25
