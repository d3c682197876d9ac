"""Settings for every shape of shop: read from the environment (twelve-factor, django-environ).

Defaults are the embedded monolith: one SQLite file per database alias under DATA_DIR, the
in-process event transport and an in-process Celery worker, so `make run` needs no service.
Postgres, Kafka and Redis are switched on purely by environment variables. With SHOP_ENV=prod
the process refuses to start with DEBUG on or with a secret missing.
"""

from __future__ import annotations

import os
import re
import secrets
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from shop import logs, topology
from shop.databases import config_from_url

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

SHOP_ENV = env.str("SHOP_ENV", default="dev")  # dev | test | prod
if SHOP_ENV not in {"dev", "test", "prod"}:
    raise ImproperlyConfigured(f"SHOP_ENV must be dev, test or prod, not {SHOP_ENV!r}")
DEV = SHOP_ENV != "prod"
DATA_DIR = Path(env.str("SHOP_DATA_DIR", default=str(BASE_DIR / "data")))


def _dev_secret(name: str, make, variable: str) -> str:
    """A secret for dev and tests only: created once in the git-ignored data folder."""
    if not DEV:
        raise ImproperlyConfigured(f"{variable} must come from the environment when SHOP_ENV=prod")
    path = DATA_DIR / name
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text()


def _weak_secret(key: str) -> str | None:
    """Why a secret key is unfit for production (Django's own deploy check, plus placeholders)."""
    if len(key) < 50 or len(set(key)) < 5:
        return "shorter than 50 characters or fewer than 5 different ones"
    if key.startswith("django-insecure-"):
        return "one of Django's generated development keys"
    if "changeme" in re.sub(r"[^a-z]", "", key.lower()):
        return "a placeholder (CHANGE-ME) from a template"
    return None


SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="") or _dev_secret(
    "secret_key", lambda: secrets.token_urlsafe(50), "DJANGO_SECRET_KEY"
)
DEBUG = env.bool("DJANGO_DEBUG", default=SHOP_ENV == "dev")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEV else [])
if not DEV:
    # Production refuses to start with what is unsafe, rather than warn in a log nobody reads.
    if DEBUG:
        raise ImproperlyConfigured("DEBUG must be off when SHOP_ENV=prod")
    if reason := _weak_secret(SECRET_KEY):
        raise ImproperlyConfigured(
            f"DJANGO_SECRET_KEY is weak: {reason}; e.g. python -c "
            "'import secrets; print(secrets.token_urlsafe(50))'"
        )
    if not ALLOWED_HOSTS or "*" in ALLOWED_HOSTS:
        raise ImproperlyConfigured(
            "DJANGO_ALLOWED_HOSTS must list the host names this service answers to when SHOP_ENV=prod "
            "(empty refuses every request; '*' trusts any Host header)"
        )

# --- services and databases -------------------------------------------------------------------
# SHOP_SERVICES selects which services this process is; their aliases are the only databases it
# can open. Unset = the monolith, which configures them all.
SHOP_SERVICES = [s.name for s in topology.selected(env.str("SHOP_SERVICES", default=""))]
SERVED_ALIASES = [a for name in SHOP_SERVICES for a in topology.SERVICES[name].aliases]


def _database(alias: str) -> dict:
    url = env.str(f"DATABASE_URL_{alias.upper()}", default="")
    if not url:
        url = f"sqlite:///{DATA_DIR / (alias + '.sqlite3')}"
    config = config_from_url(
        url,
        conn_max_age=env.int("DATABASE_CONN_MAX_AGE", default=60),
        prepared_statements=env.bool("DATABASE_PREPARED_STATEMENTS", default=True),
    )
    test_name = env.str(f"TEST_DATABASE_NAME_{alias.upper()}", default=None)
    if test_name is None and config["ENGINE"] == "django.db.backends.sqlite3":
        # Files, not shared-cache memory: concurrency tests need SQLite's busy timeout and WAL,
        # which in-memory databases lack (they fail at once with "table is locked").
        # One folder per test process, so parallel runs never share database files.
        test_dir = DATA_DIR / "test" / str(os.getpid())
        test_dir.mkdir(parents=True, exist_ok=True)
        test_name = str(test_dir / f"{alias}.sqlite3")
    # No alias depends on another: each is created and torn down on its own.
    config["TEST"] = {"NAME": test_name, "DEPENDENCIES": []}
    return config


DATABASES = {alias: _database(alias) for alias in SERVED_ALIASES}
if "default" not in DATABASES:
    # Django insists on a 'default'; a split service gets one that raises on any use.
    DATABASES["default"] = {}
DATABASE_ROUTERS = ["shop.routers.AppDatabaseRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- apps ---------------------------------------------------------------------------------------
# Sessions, messages and the admin are database-backed (`default`): only the identity service
# (`shop`) has them. The other services authenticate statelessly (RS256 tokens) and keep auth and
# contenttypes installed only for their model classes (simplejwt resolves the user model) — they
# never query them, and their 'default' raises on any use.
SERVES_IDENTITY = topology.IDENTITY_SERVICE in SHOP_SERVICES
# Elsewhere, requests are held to the replica of users' rights in this database (shop/rights).
RIGHTS_REPLICA_DATABASE = next((a for a in SERVED_ALIASES if a in topology.RIGHTS_REPLICAS), None)
INSTALLED_APPS = [
    *(["django.contrib.admin"] if SERVES_IDENTITY else []),
    "django.contrib.auth",
    "django.contrib.contenttypes",
    *(["django.contrib.sessions", "django.contrib.messages"] if SERVES_IDENTITY else []),
    # Used refresh tokens and logouts: state only the identity service keeps and reads; the
    # other services verify access tokens statelessly and never see it.
    *(["rest_framework_simplejwt.token_blacklist"] if SERVES_IDENTITY else []),
    # Before staticfiles: shop's runserver (which prints the URLs it serves) extends theirs.
    "shop",  # the composition root: project-wide commands (migrate_all, seed_demo, runserver)
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's JS/CSS as static files (SWAGGER_UI_DIST below)
    "events",
    "shop.identity",
    "shop.rights",  # the replica of users' rights where there is no user table
    "catalog",
    "orders",
    "orders.read",  # label orders_read: the orders read side (CQRS)
    "delivery",
]

MIDDLEWARE = [
    "shop.middleware.RequestIdMiddleware",
    # Every error under /api/ in one JSON shape, the request id included (shop/errors.py).
    "shop.errors.ApiErrorMiddleware",
    # A charset other than UTF-8 is a 415 before anything decodes the query or the body.
    "shop.charsets.TextCharsetMiddleware",
    # A query string Django will not parse is a 400 before anything reads it (shop/middleware.py).
    "shop.middleware.QueryStringMiddleware",
    "django.middleware.security.SecurityMiddleware",
    *(["django.contrib.sessions.middleware.SessionMiddleware"] if SERVES_IDENTITY else []),
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    *(
        [
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ]
        if SERVES_IDENTITY
        else []
    ),
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "shop.urls"
CSRF_FAILURE_VIEW = "shop.errors.csrf_failure"
WSGI_APPLICATION = "shop.wsgi.application"
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
            ]
        },
    }
]
# Usernames are case-insensitive (log in as "Alice" or "alice"); the database keeps them unique
# that way (shop/identity/migrations).
AUTHENTICATION_BACKENDS = ["shop.identity.backends.CaseInsensitiveModelBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if SHOP_ENV == "test":
    # Hashing dominates a test suite that registers users; security of test users is moot.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# Bodies larger than this are refused with 413 before any parsing: no endpoint needs more.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("SHOP_MAX_BODY_BYTES", default=64 * 1024)

if not DEV:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    # HTTPS only: Django redirects plain HTTP and sends HSTS (a year, subdomains included) —
    # unless TLS ends at a gateway in front (an Ingress, a load balancer) that redirects and sets
    # HSTS itself: SHOP_TLS_AT_GATEWAY=true. Behind such a gateway Django may be reached over
    # plain HTTP with no trustworthy X-Forwarded-Proto, and would then redirect forever; the
    # deploy checks asking for Django's own redirect and HSTS (security.W004, W008) are silenced
    # in that case, because the gateway is what answers them.
    TLS_AT_GATEWAY = env.bool("SHOP_TLS_AT_GATEWAY", default=False)
    SECURE_SSL_REDIRECT = not TLS_AT_GATEWAY
    # Probes and scrapers inside the cluster speak plain HTTP to the pod.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SECURE_HSTS_SECONDS = 0 if TLS_AT_GATEWAY else env.int("DJANGO_SECURE_HSTS_SECONDS", default=365 * 86400)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    # Preloading puts the domain into browsers' built-in lists, hard to undo: the domain owner's
    # decision (DJANGO_SECURE_HSTS_PRELOAD=true), so its check (W021) is silenced until made.
    SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
    SILENCED_SYSTEM_CHECKS = [
        *(["security.W004", "security.W008"] if TLS_AT_GATEWAY else []),
        *([] if SECURE_HSTS_PRELOAD else ["security.W021"]),
    ]

# --- API ----------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Every service verifies the RS256 signature with the public key; where identity is served,
    # the user's current rights decide too (a deactivated user's token stops working at once).
    "DEFAULT_AUTHENTICATION_CLASSES": ["shop.identity.authentication.CurrentRightsAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # ?page=N and ?page_size=1..100, refused (400) beyond that (shop/pagination.py).
    "DEFAULT_PAGINATION_CLASS": "shop.pagination.NumberedPages",
    # JSON only, in every mode (no browsable API in dev): /api/docs/ is the interactive page.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's JSON parser with a nesting limit and finite numbers only (shop/parsers.py).
    "DEFAULT_PARSER_CLASSES": ["shop.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "shop.openapi.AutoSchema",  # documents the error responses too
    "EXCEPTION_HANDLER": "shop.api.exception_handler",
    "UNAUTHENTICATED_USER": None,
    # How many proxies in front of this process append to X-Forwarded-For (the gateway: 1).
    # The client address throttles count is the one the outermost trusted proxy saw; with 0,
    # REMOTE_ADDR. Never None: DRF would then trust the whole header, which a client writes.
    "NUM_PROXIES": env.int("SHOP_TRUSTED_PROXIES", default=0),
}
# Rate limits of the identity endpoints (shop/identity/throttles.py): per client IP and per
# account. "N/s|min|hour|day", or "off". Override any with, e.g.,
# SHOP_THROTTLE_RATES="auth.token.ip=60/min,auth.register.ip=off".
_THROTTLE_DEFAULTS = {
    "auth.token.ip": "30/min",
    "auth.token.username": "10/min",
    "auth.refresh.ip": "60/min",
    "auth.refresh.user": "10/min",
    "auth.register.ip": "20/hour",
    "auth.register.username": "5/hour",
    "auth.logout.ip": "30/min",
    # Verifying asks the blacklist (a query) and is open to anyone: generous, but bounded.
    "auth.verify.ip": "600/min",
}


def _throttle_rates() -> dict[str, str | None]:
    rates = {**_THROTTLE_DEFAULTS, **env.dict("SHOP_THROTTLE_RATES", default={})}
    unknown = sorted(rates.keys() - _THROTTLE_DEFAULTS.keys())
    if unknown:
        raise ImproperlyConfigured(f"SHOP_THROTTLE_RATES names unknown scopes {unknown}")
    for scope, rate in rates.items():
        if rate != "off" and not re.fullmatch(r"[1-9][0-9]*/(s|sec|m|min|h|hour|d|day)", rate):
            raise ImproperlyConfigured(
                f"SHOP_THROTTLE_RATES: {scope}={rate!r} is not N/s|min|hour|day or off"
            )
    return {scope: None if rate == "off" else rate for scope, rate in rates.items()}


SHOP_THROTTLE_RATES = _throttle_rates()
SPECTACULAR_SETTINGS = {
    "TITLE": "shop API",
    "DESCRIPTION": "catalog → orders → delivery; the same API in every deployment shape.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Several fields are called `status`: each set of choices gets a name of its own.
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "orders.models.OrderStatus",
        "ShipmentStatusEnum": "delivery.models.ShipmentStatus",
        "ShipmentStepEnum": "delivery.services.ADVANCE_TARGETS",
    },
    # Swagger UI from the project's static files, not a CDN: /api/docs/ works with no internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}


def _jwt_keys() -> tuple[str, str]:
    """(private, public) PEM keys: from the environment, or in dev a pair made once. Refuses a
    pair that does not match, an identity service that cannot sign, and in production a private
    key in a service that only verifies (least privilege: a leaked catalog cannot mint tokens)."""
    from shop.identity.keys import check_pair, generate_pem_pair

    private = env.str("JWT_PRIVATE_KEY", default="", multiline=True)
    public = env.str("JWT_PUBLIC_KEY", default="", multiline=True)
    if not public:
        if not DEV:
            raise ImproperlyConfigured(
                "JWT_PUBLIC_KEY (and JWT_PRIVATE_KEY on the identity service) must be set"
            )
        pair = _dev_secret("jwt_rs256.pem", lambda: "\n".join(generate_pem_pair()), "JWT_PUBLIC_KEY")
        marker = "-----BEGIN PUBLIC KEY-----"
        private, public = pair[: pair.index(marker)].strip() + "\n", pair[pair.index(marker) :]
    if SERVES_IDENTITY and not private:
        raise ImproperlyConfigured(
            "this process serves identity (shop), which signs tokens: set JWT_PRIVATE_KEY"
        )
    if private and not SERVES_IDENTITY and not DEV:
        raise ImproperlyConfigured(
            "JWT_PRIVATE_KEY is set in a process that does not serve identity: only `shop` signs tokens"
        )
    try:
        check_pair(private, public)
    except ValueError as exc:
        raise ImproperlyConfigured(str(exc)) from None
    return private, public


JWT_PRIVATE_KEY, JWT_PUBLIC_KEY = _jwt_keys()
SIMPLE_JWT = {
    "ALGORITHM": "RS256",
    # Only the identity service signs; others get an empty private key and can only verify.
    "SIGNING_KEY": JWT_PRIVATE_KEY or None,
    "VERIFYING_KEY": JWT_PUBLIC_KEY,
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "ISSUER": "shop",
    "AUDIENCE": "shop",
    "TOKEN_OBTAIN_SERIALIZER": "shop.identity.api.serializers.TokenObtainPairSerializer",
    "TOKEN_REFRESH_SERIALIZER": "shop.identity.api.serializers.TokenRefreshSerializer",
    "TOKEN_VERIFY_SERIALIZER": "shop.identity.api.serializers.TokenVerifySerializer",
    # A refresh token is good for one refresh: it is blacklisted as the new pair is issued
    # (shop/identity/services.py rotate_refresh_token), and logout blacklists it too.
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
}

# /metrics: the scraper's bearer token (shop/metrics_view.py); staff may read it too.
SHOP_METRICS_TOKEN = env.str("SHOP_METRICS_TOKEN", default="")
if SHOP_METRICS_TOKEN and len(SHOP_METRICS_TOKEN) < 32:
    raise ImproperlyConfigured("SHOP_METRICS_TOKEN must be at least 32 characters (a generated secret)")

# --- events -------------------------------------------------------------------------------------
# The events library's settings (every key has a default: events/settings.py). Besides the
# environment's, the topology: which service owns which database, where each app's handlers
# write, and which services this process runs.
EVENTS = {
    "NAME": "shop",  # consumer groups shop.<service>, dead letter topics, metrics shop_*
    "SERVICES": {name: list(service.aliases) for name, service in topology.SERVICES.items()},
    "APP_DATABASES": topology.ALIAS_FOR_APP,
    "SERVED_SERVICES": SHOP_SERVICES,
    # local: in-process dispatch (the monolith); kafka: a real broker.
    "TRANSPORT": env.str("EVENTS_TRANSPORT", default="local"),
    "KAFKA_BOOTSTRAP_SERVERS": env.list("KAFKA_BOOTSTRAP_SERVERS", default=["127.0.0.1:9092"]),
    # Prefix for Kafka topic and consumer group names: lets several deployments (or test runs)
    # share one broker without seeing each other's events.
    "NAMESPACE": env.str("EVENTS_NAMESPACE", default=""),
    "RELAY_BATCH_SIZE": env.int("EVENTS_RELAY_BATCH_SIZE", default=500),
    "RELAY_POLL_SECONDS": env.float("EVENTS_RELAY_POLL_SECONDS", default=1.0),
    # The web process relays in a background thread woken on commit (the monolith). Off where a
    # separate relay process does it, and in tests, which drain explicitly.
    "RELAY_IN_PROCESS": env.bool("EVENTS_RELAY_IN_PROCESS", default=SHOP_ENV == "dev"),
    "HANDLER_ATTEMPTS": env.int("EVENTS_HANDLER_ATTEMPTS", default=4),
    "HANDLER_BACKOFF_SECONDS": env.float("EVENTS_HANDLER_BACKOFF_SECONDS", default=0.05),
    "OUTBOX_RETENTION_HOURS": env.int("EVENTS_OUTBOX_RETENTION_HOURS", default=72),
    # Touched by relay and consumer loops as they make progress: their liveness probe.
    "HEARTBEAT_FILE": env.str("EVENTS_HEARTBEAT_FILE", default=""),
    # relay_outbox and consume_events serve their own metrics on this port (0: off).
    "METRICS_PORT": env.int("EVENTS_METRICS_PORT", default=0),
    "METRICS_ADDRESS": env.str("EVENTS_METRICS_ADDRESS", default="127.0.0.1"),
}

# --- the saga's clocks ----------------------------------------------------------------------------
# How long each shipment step takes before the next (seconds); short in dev for a quick demo.
DELIVERY_STEP_SECONDS = env.float("DELIVERY_STEP_SECONDS", default=2.0 if DEV else 600.0)
# A shipment whose next step has not come this long after it was due lost its task (Redis or a
# worker killed, Redis down when it was to be queued, an in-memory queue that died with its
# process, a queue renamed by a move): beat resumes it. Short: a step resumed twice happens once.
DELIVERY_STALLED_AFTER_SECONDS = env.float("DELIVERY_STALLED_AFTER_SECONDS", default=10.0 if DEV else 60.0)

# --- Celery -------------------------------------------------------------------------------------
# memory:// + an in-process worker thread is the monolith default; Redis when it is set.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="memory://")
# Its own queue name, so deployments (or test clusters) sharing a Redis never take each other's tasks.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="shop")
if set(SHOP_SERVICES) != set(topology.SERVICES):
    # A split service sends only its own tasks (apps never import each other) and its worker is
    # the only one that can run them (the only one with its databases): one queue per service.
    CELERY_TASK_DEFAULT_QUEUE += "." + "+".join(SHOP_SERVICES)
# Redis down, for however long: workers and beat keep trying to reconnect (the default gives up
# after 100 attempts and the worker exits).
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# ...and do not exit when the connection drops while they hold countdown tasks (shop/celery_worker.py).
CELERY_WORKER_CONSUMER = "shop.celery_worker:Consumer"
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Redis hands a task that a worker took but has not acknowledged (acks_late; a countdown task
    # waiting in the worker's memory) to another worker after this long. Longer than a step's
    # countdown, so a waiting step is not handed out twice; the sweep re-drives lost steps sooner.
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=int(DELIVERY_STEP_SECONDS) + 300),
}
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=SHOP_ENV == "test")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_IN_PROCESS_WORKER = env.bool(
    "CELERY_IN_PROCESS_WORKER", default=CELERY_BROKER_URL.startswith("memory://") and SHOP_ENV == "dev"
)
CELERY_BEAT_SCHEDULE = {
    "expire-pending-orders": {
        "task": "orders.tasks.expire_pending_orders",
        "schedule": env.float("ORDER_EXPIRY_CHECK_SECONDS", default=60.0),
    },
    "prune-published-outbox": {"task": "events.tasks.prune_published_outbox", "schedule": 3600.0},
    "resume-stalled-shipments": {
        "task": "delivery.tasks.resume_stalled_shipments",
        # A lost step is resumed between 1 and 1.5 x DELIVERY_STALLED_AFTER_SECONDS after its due time.
        "schedule": max(DELIVERY_STALLED_AFTER_SECONDS / 2, 5.0),
        # A sweep still queued when the next is due is useless: the next one does its work.
        "options": {"expires": max(DELIVERY_STALLED_AFTER_SECONDS / 2, 5.0)},
    },
}
if SERVES_IDENTITY:
    CELERY_BEAT_SCHEDULE["flush-expired-tokens"] = {
        "task": "shop.identity.tasks.flush_expired_tokens",
        "schedule": 86400.0,
    }
# A service's beat schedules only its own tasks; pruning covers the databases it serves.
if "orders" not in SHOP_SERVICES:
    del CELERY_BEAT_SCHEDULE["expire-pending-orders"]
if "delivery" not in SHOP_SERVICES:
    del CELERY_BEAT_SCHEDULE["resume-stalled-shipments"]
# Where a beat started without --schedule (`celery -A shop worker -B`, README section 2) keeps its
# state: with the other runtime data (git-ignored, wiped by `make reset`), not in the working
# directory — Celery's default, which left celerybeat-schedule.* files in the repository. Named
# after the queue, so the beats of two services started from one checkout never share a file.
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / f"celerybeat-schedule.{CELERY_TASK_DEFAULT_QUEUE}")
# --- cache --------------------------------------------------------------------------------------
# The cache holds the throttle counters, which must be shared by every process that serves the
# identity endpoints — or N replicas allow N times the rate, and a restart forgets the count.
# Redis wherever more than one process serves: CACHE_URL, by default the Redis that already is
# the Celery broker (shapes 2 and 3), with short timeouts (a Redis outage is logged and lets
# requests through; it does not hang logins). Without Redis — the monolith, one web process —
# the process's memory is exact. (The database cache would be shared too, but its increments
# read then write, so parallel guesses could slip past a limit; Redis's INCR cannot.)
_REDIS = ("redis://", "rediss://")
CACHE_URL = env.str("CACHE_URL", default=CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(_REDIS) else "")
if CACHE_URL.startswith(_REDIS):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            # Deployments (and test clusters) sharing a Redis keep their counters apart.
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default=env.str("CELERY_QUEUE", default="shop")),
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
elif CACHE_URL in ("", "locmem://"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    raise ImproperlyConfigured(f"CACHE_URL must be redis://... or locmem://, not {CACHE_URL!r}")

ORDER_PENDING_TIMEOUT_MINUTES = env.float("ORDER_PENDING_TIMEOUT_MINUTES", default=30)
# How long a read carrying a consistency token may wait for the read side to catch up.
ORDERS_READ_YOUR_WRITES_TIMEOUT = env.float("ORDERS_READ_YOUR_WRITES_TIMEOUT", default=3.0)

# --- tracing (shop/telemetry.py) -----------------------------------------------------------------
# OpenTelemetry, from the standard OTEL_* variables: none (the default: no SDK, no cost), otlp
# (OTEL_EXPORTER_OTLP_ENDPOINT, e.g. the trace backend of `make split`) or console.
TRACING_EXPORTER = env.str("OTEL_TRACES_EXPORTER", default="none")
if TRACING_EXPORTER not in {"none", "otlp", "console"}:
    raise ImproperlyConfigured(
        f"OTEL_TRACES_EXPORTER must be none, otlp or console, not {TRACING_EXPORTER!r}"
    )
# The share of new traces recorded (OpenTelemetry's parentbased_traceidratio argument): a trace is
# sampled where it starts (a request, a beat task) and every process follows that decision.
TRACING_SAMPLE_RATIO = env.float("OTEL_TRACES_SAMPLER_ARG", default=1.0)
if not 0 <= TRACING_SAMPLE_RATIO <= 1:
    raise ImproperlyConfigured(f"OTEL_TRACES_SAMPLER_ARG must be between 0 and 1, not {TRACING_SAMPLE_RATIO}")

# --- logging ------------------------------------------------------------------------------------
# One JSON object per line (python-json-logger) outside dev, each with the request id, trace id and
# span id of the work it belongs to (shop.middleware.RequestIdLogFilter); plain text in dev.
LOGGING = logs.dict_config(
    env.str("LOG_FORMAT", default=logs.default_format(SHOP_ENV)),
    root_level=env.str("LOG_LEVEL", default="INFO"),
    loggers={"kafka": {"level": "WARNING"}, "django.db.backends": {"level": "INFO"}},
)
# kafka-python logs every reconnection attempt, a few lines a second per client while the broker is
# away (events' clients retry within a second): one line of each kind every 30 s is enough.
LOGGING["filters"]["kafka_repeats"] = {"()": "events.outage.RepeatedLogFilter"}
LOGGING["handlers"]["console"]["filters"].append("kafka_repeats")
# Celery workers log through LOGGING too (JSON, with the ids), not through Celery's own handler.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
