"""VADCloud settings, read from the environment (12-factor).

With nothing set, the project runs on an embedded default that needs nothing installed:
SQLite, an in-memory channel layer, eager Celery and filesystem storage. These variables
switch to real services (see README "Configuration"):

    DATABASE_URL   postgres://user:pass@host:5432/name       (default: SQLite file db.sqlite3)
    REDIS_URL      redis://host:6379/0  -> channel layer + Celery broker/result backend
    S3_BUCKET      (+ S3_ENDPOINT_URL, S3_REGION, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY); model
                   bundles go under bundles/ there (MODEL_BUNDLE_MAX_BYTES caps an upload, default 256 MiB)
    DEBUG          True/False (default True)
    SECRET_KEY     required when DEBUG is False
    FIELD_ENCRYPTION_KEY  Fernet key for secrets at rest (camera stream credentials);
                          required when DEBUG is False
    EDGE_CONFIG_SIGNING_KEY / EDGE_CONFIG_KEY_ID  Ed25519 key (base64 raw 32 bytes) + id signing
                          the device config; or EDGE_CONFIG_SIGNING_KEYS "kid1:b64,kid2:b64";
                          required when DEBUG is False (dev: derived from SECRET_KEY)
    ALLOWED_HOSTS  comma-separated (default: localhost,127.0.0.1 in DEBUG)
"""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urlparse

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"Unexpected value {name}={value!r}, use 'True' or 'False'")


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def sqlite_database(name: object) -> dict[str, object]:
    """SQLite with more than one writer (the portal, the edge ingest, the demo agent's enrollment):
    WAL so readers never block the writer, IMMEDIATE transactions so a transaction that reads
    first and then writes waits for the lock (busy timeout 20 s) instead of failing at once with
    "database is locked" (the deferred-transaction upgrade deadlock)."""
    return {"ENGINE": "django.db.backends.sqlite3", "NAME": name,
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20,
                        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}}


def database_from_url(url: str) -> dict[str, object]:
    """Turn DATABASE_URL into a Django DATABASES entry (postgres:// or sqlite:///path)."""
    parsed = urlparse(url)
    if parsed.scheme in {"postgres", "postgresql", "pgsql"}:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parsed.path.lstrip("/")),
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "",
            "PORT": str(parsed.port or ""),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
    if parsed.scheme == "sqlite":
        return sqlite_database(parsed.path or ":memory:")
    raise ValueError(f"Unsupported DATABASE_URL scheme {parsed.scheme!r}; use postgres:// or sqlite:///")


DEBUG = env_bool("DEBUG", True)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ValueError("SECRET_KEY must be set when DEBUG is False")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production-0123456789abcdef"

# Fernet key (urlsafe base64 of 32 bytes) for secrets stored in the database.
FIELD_ENCRYPTION_KEY = env_str("FIELD_ENCRYPTION_KEY")
if not FIELD_ENCRYPTION_KEY:
    if not DEBUG:
        raise ValueError("FIELD_ENCRYPTION_KEY must be set when DEBUG is False")
    FIELD_ENCRYPTION_KEY = "ZGV2LW9ubHktZmllbGQta2V5LWRvLW5vdC11c2UtISE="  # dev only

# Ed25519 key that signs the config pushed to edge devices (cameras.edgeconfig): base64 of the raw
# 32-byte private key, with its key id; or a ring "kid1:b64,kid2:b64" (the first signs, all are
# published to devices at enrollment) for rotation. Required when DEBUG is False.
EDGE_CONFIG_SIGNING_KEYS = env_str("EDGE_CONFIG_SIGNING_KEYS")
EDGE_CONFIG_SIGNING_KEY = env_str("EDGE_CONFIG_SIGNING_KEY")
EDGE_CONFIG_KEY_ID = env_str("EDGE_CONFIG_KEY_ID", "k1")
if not (EDGE_CONFIG_SIGNING_KEYS or EDGE_CONFIG_SIGNING_KEY):
    if not DEBUG:
        raise ValueError("EDGE_CONFIG_SIGNING_KEY (or EDGE_CONFIG_SIGNING_KEYS) must be set when DEBUG is False")
    # dev only: derived from SECRET_KEY, so every dev process signs with the same key
    EDGE_CONFIG_SIGNING_KEY = base64.b64encode(
        hashlib.sha256(b"vadcloud-edge-config-dev:" + SECRET_KEY.encode()).digest()).decode()
    EDGE_CONFIG_KEY_ID = "dev"

# Ed25519 key that signs the audit log's checkpoints and export manifests (compliance.audit_signing):
# AUDIT_SIGNING_KEY (base64 raw 32 bytes) + AUDIT_KEY_ID, or a ring AUDIT_SIGNING_KEYS "kid1:b64,kid2:b64"
# (the first signs, all are published at /api/v1/audit/public-keys/). DEBUG without one: a dev key
# derived from SECRET_KEY; production without one: checkpoints and exports fail naming the setting.
AUDIT_SIGNING_KEYS = env_str("AUDIT_SIGNING_KEYS")
AUDIT_SIGNING_KEY = env_str("AUDIT_SIGNING_KEY")
AUDIT_KEY_ID = env_str("AUDIT_KEY_ID", "a1")
if not (AUDIT_SIGNING_KEYS or AUDIT_SIGNING_KEY) and DEBUG:
    AUDIT_SIGNING_KEY = base64.b64encode(hashlib.sha256(b"vadcloud-audit-dev:" + SECRET_KEY.encode()).digest()).decode()
    AUDIT_KEY_ID = "dev"
# The audit log is kept at least this long (EU AI Act Art. 26(6): deployer logs >= 6 months); nothing
# in the application deletes entries (append-only; a PostgreSQL trigger refuses DELETE).
try:
    AUDIT_RETENTION_DAYS = int(env_str("AUDIT_RETENTION_DAYS", "400"))
except ValueError:
    raise ValueError(f"AUDIT_RETENTION_DAYS must be a whole number of days, got {env_str('AUDIT_RETENTION_DAYS')!r}") from None
if AUDIT_RETENTION_DAYS < 183:
    raise ValueError(f"AUDIT_RETENTION_DAYS={AUDIT_RETENTION_DAYS} is below the 6-month minimum (183 days)")
AUDIT_CHECKPOINT_EVERY_S = float(env_str("AUDIT_CHECKPOINT_EVERY_S", "3600"))  # beat: signed checkpoints

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "testserver"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI assets served from our static files (no CDN)
    "guardian",
    "axes",
    "csp",
    "django_htmx",  # request.htmx (HX-Request partials) and htmx itself as a static file (no CDN)
    "django_otp",
    "django_otp.plugins.otp_totp",  # optional TOTP second factor (login, /account/security/)
    "channels",
    "django_celery_beat",
    "tenants",
    "cameras",
    "detection",
    "compliance",
    "frontend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # request.user.is_verified(): signed in with a TOTP code
    "compliance.middleware.AuditIpMiddleware",  # the client IP of audit entries recorded by the request
    "tenants.middleware.TenantScopeMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",  # request.htmx: the wall filter and audit paging answer partials
    "frontend.twofactor.RequireSecondFactorMiddleware",  # owners/admins of a 2FA tenant set up TOTP first
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into the lockout page
]

ROOT_URLCONF = "vadcloud.urls"
WSGI_APPLICATION = "vadcloud.wsgi.application"
ASGI_APPLICATION = "vadcloud.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "frontend.nav.portal",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL")
DATABASES = {
    "default": database_from_url(DATABASE_URL)
    if DATABASE_URL
    else sqlite_database(BASE_DIR / "db.sqlite3")
}
DATABASES["default"]["ATOMIC_REQUESTS"] = True  # nothing half-written when a request fails
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses locked-out (username, IP) pairs
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
GUARDIAN_RAISE_403 = False
ANONYMOUS_USER_NAME = None  # no guardian anonymous user row

# --- failed-login throttling (django-axes): portal /login/ and /admin/login/ ---------------
# 5 wrong passwords for one username from one IP lock that pair for 15 minutes; the same user
# from another address, or another user from the same address, can still sign in. A success
# clears the count. Attempts made while locked are refused without being counted, so the page
# can say exactly when to retry. The client IP is REMOTE_ADDR (behind a proxy: the proxy's).
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "frontend.views.login_locked_out"
AXES_VERBOSE = False  # no start-up banner on every manage.py command; failures are still logged

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = BASE_DIR / "media"

# --- storage: filesystem by default, S3 when S3_BUCKET is set -------------------------------
S3_BUCKET = env_str("S3_BUCKET")
if S3_BUCKET:
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": env_str("S3_ENDPOINT_URL") or None,
            "region_name": env_str("S3_REGION") or None,
            "access_key": env_str("S3_ACCESS_KEY_ID") or None,
            "secret_key": env_str("S3_SECRET_ACCESS_KEY") or None,
            "default_acl": None,
            "querystring_auth": True,
        },
    }
else:
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
# Model bundles (detection.artifacts): the same backend, under bundles/ (README "Model bundles").
if S3_BUCKET:
    _bundle_storage = {**_default_storage, "OPTIONS": {**_default_storage["OPTIONS"], "location": "bundles"}}
else:
    _bundle_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage",
                       "OPTIONS": {"location": MEDIA_ROOT / "bundles", "base_url": None}}
STORAGES = {
    "default": _default_storage,
    "bundles": _bundle_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
try:
    MODEL_BUNDLE_MAX_BYTES = int(env_str("MODEL_BUNDLE_MAX_BYTES", str(256 * 1024 * 1024)))
except ValueError:
    raise ValueError(f"MODEL_BUNDLE_MAX_BYTES must be a number of bytes, got {env_str('MODEL_BUNDLE_MAX_BYTES')!r}") from None

# --- Redis: channel layer + Celery; in-memory / eager without it ------------------------------
REDIS_URL = env_str("REDIS_URL")
# Channel layer limits: ``capacity`` = messages a channel or group member may have queued before
# new sends to it are dropped (a stalled alert wall cannot grow Redis without bound); ``expiry`` =
# seconds an undelivered message lives. Edge ingest sends one message per frame, not per event.
CHANNEL_LAYER_CAPACITY = int(env_str("CHANNEL_LAYER_CAPACITY", "1000"))
CHANNEL_LAYER_EXPIRY_S = int(env_str("CHANNEL_LAYER_EXPIRY_S", "60"))
EDGE_HEARTBEAT_FLUSH_S = float(env_str("EDGE_HEARTBEAT_FLUSH_S", "5"))  # heartbeat -> DB at most this often
EDGE_OFFLINE_AFTER_S = float(env_str("EDGE_OFFLINE_AFTER_S", "60"))  # silent this long -> offline
EDGE_OFFLINE_CHECK_S = float(env_str("EDGE_OFFLINE_CHECK_S", "30"))  # beat runs the offline sweep this often
EDGE_HELLO_TIMEOUT_S = float(env_str("EDGE_HELLO_TIMEOUT_S", "10"))  # /ws/edge/: hello within this
if REDIS_URL:
    CHANNEL_LAYERS = {
        # socket_timeout None: redis-py 8 defaults to 5 s, shorter than channels_redis's blocking
        # BZPOPMIN, so every idle socket crashed with 1011 every ~5 s (django/channels_redis#422).
        # vadcloud.channel_layer: channels_redis's layer whose process-local receive cannot lose a
        # message when a consumer stops mid-receive (a device disconnecting made walls miss pushes).
        "default": {"BACKEND": "vadcloud.channel_layer.RedisChannelLayer",
                    "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None}],
                               "capacity": CHANNEL_LAYER_CAPACITY, "expiry": CHANNEL_LAYER_EXPIRY_S}}
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer",
                                  "CONFIG": {"capacity": CHANNEL_LAYER_CAPACITY, "expiry": CHANNEL_LAYER_EXPIRY_S}}}
    CELERY_BROKER_URL = "memory://"
    CELERY_RESULT_BACKEND = None
    CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Static entries; the DatabaseScheduler copies them into django_celery_beat's tables on start.
CONSENT_EXPIRY_CHECK_S = float(env_str("CONSENT_EXPIRY_CHECK_S", "60"))
CELERY_BEAT_SCHEDULE = {
    "fleet-health-sweep": {"task": "detection.fleet_health_sweep_all", "schedule": EDGE_OFFLINE_CHECK_S},
    "audit-checkpoints": {"task": "compliance.audit_tasks.platform_audit_checkpoints",
                          "schedule": AUDIT_CHECKPOINT_EVERY_S},
    # compliance.retention: expired alerts of every tenant, in batches, legal holds honoured
    "retention-purge": {"task": "compliance.retention_purge_all",
                        "schedule": float(env_str("RETENTION_PURGE_EVERY_S", "3600"))},
    # compliance.consents: re-push the devices of sites whose consents just expired
    "consent-expiry-push": {"task": "compliance.consent_expiry_push_all", "schedule": CONSENT_EXPIRY_CHECK_S},
}
CELERY_TIMEZONE = TIME_ZONE

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "VADCloud <no-reply@vadcloud.localhost>")
PORTAL_BASE_URL = env_str("PORTAL_BASE_URL", "http://127.0.0.1:8000")
# Billing (tenants.billing, README "Billing"): off without STRIPE_SECRET_KEY (no Stripe calls, no limits).
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET")
STRIPE_API_BASE = env_str("STRIPE_API_BASE", "https://api.stripe.com")
STRIPE_PRICE_STARTER = env_str("STRIPE_PRICE_STARTER")
STRIPE_PRICE_PRO = env_str("STRIPE_PRICE_PRO")
STRIPE_PRICE_ENTERPRISE = env_str("STRIPE_PRICE_ENTERPRISE")
STRIPE_WEBHOOK_TOLERANCE_S = 300  # signed timestamps older than this are refused (replays)
try:
    BILLING_GRACE_DAYS = int(env_str("BILLING_GRACE_DAYS", "7"))  # failed payment -> read-only after this
    BILLING_FREE_CAMERAS = int(env_str("BILLING_FREE_CAMERAS", "0"))  # cameras without a plan (billing on)
except ValueError as _err:
    raise ValueError(f"BILLING_GRACE_DAYS and BILLING_FREE_CAMERAS must be whole numbers ({_err})") from None
# Edge enrollment (cameras.services.device_enrollment_token_create, cameras.edge_http): token lifetime,
# and where the agent wheel served at /edge/dist/ is built (default build/edge-dist, see cameras.edge_dist).
try:
    EDGE_ENROLLMENT_TTL_S = int(env_str("EDGE_ENROLLMENT_TTL_S", "3600"))
except ValueError:
    raise ValueError(f"EDGE_ENROLLMENT_TTL_S must be whole seconds, got {env_str('EDGE_ENROLLMENT_TTL_S')!r}") from None
EDGE_DIST_DIR = env_str("EDGE_DIST_DIR", str(BASE_DIR / "build" / "edge-dist"))

DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024  # request bodies (API JSON/forms too: vadcloud/parsers.py)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # The first class answers anonymous calls: 401 + WWW-Authenticate: Bearer realm="api".
        "tenants.api.auth.ApiTokenAuthentication",
        "tenants.api.session_auth.TwoFactorSessionAuthentication",  # session + the tenant's 2FA rule
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Input limits (README "Input limits"): JSON depth 20 and body size, page size 200, ids < 2**63.
    "DEFAULT_PARSER_CLASSES": [
        "vadcloud.parsers.LimitedJSONParser",
        "vadcloud.parsers.LimitedFormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "tenants.api.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "tenants.api.errors.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "VADCloud API",
    "DESCRIPTION": "Multi-tenant, compliance-aware video anomaly detection control plane.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"ReasonCodeEnum": "detection.models.ReasonCode", "RoleEnum": "tenants.models.Role",
                            "AlertKindEnum": "detection.models.AlertKind", "ZoneKindEnum": "cameras.models.ZoneKind"},
    # Swagger UI from drf-spectacular-sidecar's static files: works offline and under the CSP.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

# --- Content-Security-Policy (django-csp): no inline script or style anywhere -----------------
# Portal behaviour lives in frontend/static/frontend/portal.js; the Swagger UI page loads its
# init script from a URL (SpectacularSwaggerSplitView), so no view needs a relaxed policy.
# img-src allows data: for the SVG icons inlined in swagger-ui.css. The DRF browsable API has one
# inline <style> (Pygments highlighting, rest_framework/base.html), allowed by its hash: a DRF or
# Pygments upgrade changes it, and tests/e2e/test_csp_browser.py then fails showing the new hash.
DRF_PYGMENTS_STYLE_HASH = "'sha256-1kn+agGaGZdaFPNbx228buXQB9KXcy9RVE6NMUiW4SQ='"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", DRF_PYGMENTS_STYLE_HASH],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# Camera/broker/database URL credentials never reach an error page, an error email or a log line
# (vadcloud/errorreport.py; the filter is active with DEBUG on too).
DEFAULT_EXCEPTION_REPORTER_FILTER = "vadcloud.errorreport.UrlCredentialsExceptionReporterFilter"
DEFAULT_EXCEPTION_REPORTER = "vadcloud.errorreport.UrlCredentialsExceptionReporter"  # the exception message too

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_url_credentials": {"()": "vadcloud.errorreport.RedactUrlCredentialsLogFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["redact_url_credentials"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's default config also prints "django" records; don't let them reach root twice.
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "WARNING"},
    },
}

# --- production hardening (manage.py check --deploy is clean with DEBUG=0) -------------------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = int(env_str("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"
