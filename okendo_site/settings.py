"""Settings for okendo-connections, read from the environment through ``Env``.

Development (``DJANGO_DEBUG=1``, what ``make run`` sets) fills missing keys from
a git-ignored local file. Production has no defaults for secrets: a missing or
malformed key stops start-up with one message naming the variable.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import dj_database_url

from connections.keyring import KEY_SPEC_EXAMPLE, KeySpecError, keyring_from_settings
from okendo_site import devkeys
from okendo_site.env import ConfigurationError, Env, stop

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
env = Env()
DEV_KEYS_FILE = Path(env.get_str("DJANGO_DEV_KEYS_FILE", str(VAR_DIR / "dev-keys.env")))
try:
    DEBUG = env.get_bool("DJANGO_DEBUG", False)
except ConfigurationError as exc:
    stop(str(exc))

if DEBUG and not (env.is_set("DJANGO_SECRET_KEY") and env.is_set("CONNECTIONS_ENCRYPTION_KEY")):
    env = env.with_fallback(devkeys.load_or_create(DEV_KEYS_FILE))

SECRET_KEY = env.get_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    stop(
        "DJANGO_SECRET_KEY is not set. Set it to a random string of at least 50 characters, "
        'e.g. the output of: python -c "import secrets; print(secrets.token_urlsafe(50))"'
    )
if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure"):
    stop(
        "DJANGO_SECRET_KEY is too weak. Set it to a random string of at least 50 characters "
        "with varied characters, e.g. the output of: "
        'python -c "import secrets; print(secrets.token_urlsafe(50))"'
    )

CONNECTIONS_ENCRYPTION_KEY = env.get_str("CONNECTIONS_ENCRYPTION_KEY")
CONNECTIONS_ENCRYPTION_KEY_FALLBACKS = env.get_list("CONNECTIONS_ENCRYPTION_KEY_FALLBACKS")


class _KeySettings:
    CONNECTIONS_ENCRYPTION_KEY = CONNECTIONS_ENCRYPTION_KEY
    CONNECTIONS_ENCRYPTION_KEY_FALLBACKS = CONNECTIONS_ENCRYPTION_KEY_FALLBACKS


try:
    keyring_from_settings(_KeySettings)
except KeySpecError as exc:
    stop(f"{exc} Generate a key with: {KEY_SPEC_EXAMPLE}")

try:
    ALLOWED_HOSTS = env.get_list("DJANGO_ALLOWED_HOSTS", ("127.0.0.1", "localhost"))
    CSRF_TRUSTED_ORIGINS = env.get_list("DJANGO_CSRF_TRUSTED_ORIGINS")
    HTTPS = env.get_bool("DJANGO_HTTPS", False)
    SECURE_COOKIES = env.get_bool("DJANGO_SECURE_COOKIES", not DEBUG)
    SECURE_HSTS_SECONDS = env.get_int("DJANGO_HSTS_SECONDS", 0)
    OKENDO_CONNECT_TIMEOUT = env.get_float("OKENDO_CONNECT_TIMEOUT", 5.0)
    OKENDO_READ_TIMEOUT = env.get_float("OKENDO_READ_TIMEOUT", 10.0)
    # Requests one API token (or signed-in user) may make, as DRF spells a rate:
    # "600/minute", "20/second". Over it the API answers 429 with Retry-After.
    CONNECTIONS_API_THROTTLE_RATE = env.get_str("CONNECTIONS_API_THROTTLE_RATE", "600/minute")
    if CONNECTIONS_API_THROTTLE_RATE and not re.fullmatch(
        r"[1-9][0-9]*/(s|m|h|d)[a-z]*", CONNECTIONS_API_THROTTLE_RATE
    ):
        raise ConfigurationError(
            "CONNECTIONS_API_THROTTLE_RATE must be a number of requests per second, "
            'minute, hour or day, such as "600/minute" (or empty: no limit).'
        )
    # Days a new API token lives unless its creator picks another expiry.
    CONNECTIONS_API_TOKEN_DAYS = env.get_int("CONNECTIONS_API_TOKEN_DAYS", 90)
except ConfigurationError as exc:
    stop(str(exc))

OKENDO_API_BASE_URL = env.get_str("OKENDO_API_BASE_URL", "https://api.okendo.io").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Trigram search index on PostgreSQL (connections migration 0006); inert on SQLite.
    "django.contrib.postgres",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "axes",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "connections",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # After HtmxMiddleware: it reads request.htmx.
    "connections.middleware.LoginRedirectMiddleware",
    # Last, as django-axes requires: it turns a lock-out into the lock-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "okendo_site.urls"
WSGI_APPLICATION = "okendo_site.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env.get_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=60,
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(exist_ok=True)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # WAL lets the development server read while another request writes; each
    # recorded test result is one small commit, which WAL makes cheap.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        transaction_mode="IMMEDIATE",
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def _cache_from_url(url: str) -> dict[str, object]:
    """Map ``CACHE_URL`` to a Django cache; the rate limiter needs one shared by all workers."""
    # Culling at Django's default 300 entries could drop a rate-limit slot or a
    # test lock under load; these caches hold small keys, so allow many.
    options = {"MAX_ENTRIES": 50_000}
    if not url or url == "locmem://":
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "OPTIONS": options}
    if url == "db://":
        return {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "django_cache",
            "OPTIONS": options,
        }
    if url.startswith(("redis://", "rediss://")):
        return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    stop("CACHE_URL must be locmem://, db:// or a redis:// URL.")


CACHES = {"default": _cache_from_url(env.get_str("CACHE_URL"))}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes counts failed sign-ins per username *and* address, so a stranger
# cannot lock a colleague out from elsewhere, and answers the lock-out page
# (okendo_site.views.locked_out) until the cool-off ends. Its backend must come
# first so a locked-out request never reaches the password check.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "okendo_site.views.locked_out"
# Axes stores the typed username in a 255-character column; PostgreSQL refuses
# a longer one with an error page, so it is cut to fit (see the function).
AXES_USERNAME_CALLABLE = "okendo_site.views.axes_username"
# Axes keeps the submitted form with each failure and logs who failed: mask the
# values that identify a person or could let someone in (axes always masks
# "password"; it is listed anyway so the intent reads here).
AXES_SENSITIVE_PARAMETERS = ["password", "username", "ip_address", "csrfmiddlewaretoken"]

# The REST API (connections/api/): JSON only, personal tokens or the browser's
# session (with CSRF), Django's model permissions, one error shape (docs/api.md).
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "connections.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["connections.api.permissions.ConnectionPermissions"],
    "DEFAULT_THROTTLE_CLASSES": ["connections.api.throttling.TokenRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["connections.api.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "connections.api.errors.exception_handler",
}
# django-rest-knox: tokens are stored as SHA-512 digests in its own table, with
# the first characters (token_key) kept to show which token is which. Named
# here because connections.ApiTokenInfo's migration refers to it.
KNOX_TOKEN_MODEL = "knox.AuthToken"  # noqa: S105 - a model name, knox's default
REST_KNOX = {
    "TOKEN_PREFIX": "okc_",
    "TOKEN_TTL": timedelta(days=CONNECTIONS_API_TOKEN_DAYS),
    "AUTH_HEADER_PREFIX": "Bearer",  # RFC 6750
    "AUTO_REFRESH": False,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Okendo connections API",
    "DESCRIPTION": (
        "Create, test and operate Okendo connections from scripts. Secrets are "
        "write-only: they are accepted as api_key or password and never returned. "
        'Every 4xx answer has the shape {"detail": str, "errors": {field: [str]}}.'
    ),
    "VERSION": "1",
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "connections:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# Dates as the app shows them ("30 Nov 2026, 12:54"), in the admin too.
FORMAT_MODULE_PATH = ["okendo_site.formats"]

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.get_str("DJANGO_STATIC_ROOT", str(VAR_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Security: on everywhere; cookies Secure unless DEBUG, HTTPS redirects and
# HSTS switched on by the environment for deployments behind HTTPS.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Sessions: Django's default database backend, so signing out,
# deactivation and permission changes take effect on the next request.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
# A page in the site's layout (and a fragment for htmx) saying the session changed.
CSRF_FAILURE_VIEW = "okendo_site.views.csrf_failure"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SECURE_SSL_REDIRECT = HTTPS
# Load balancers probe /healthz over plain HTTP on the internal network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.get_str("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {
        # Never log request bodies or headers: they may carry credentials.
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        "urllib3": {"level": "WARNING"},
    },
}
