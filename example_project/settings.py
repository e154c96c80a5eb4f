"""Settings of the example project, read from environment variables.

The defaults are for a laptop: SQLite in <repo>/.data/demo.sqlite3, reachable only on localhost, with fake
Slack credentials (the demo runs without a Slack account). `make demo` turns DEBUG on; nothing else does.

    DJANGO_DEBUG            1 to turn DEBUG on (default off)
    DJANGO_SECRET_KEY       default: a fixed "django-insecure-" key, which `check --deploy` flags
    DJANGO_ALLOWED_HOSTS    comma-separated, default localhost,127.0.0.1
    EXAMPLE_DB_ENGINE       a Django database backend, default django.db.backends.sqlite3
    EXAMPLE_DB_NAME         database name (SQLite: file path), default <repo>/.data/demo.sqlite3
    EXAMPLE_DB_HOST, EXAMPLE_DB_PORT, EXAMPLE_DB_USER, EXAMPLE_DB_PASSWORD   for a database server
    SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, SLACK_SIGNING_SECRET   from your Slack app's "Basic Information"
    SLACK_SCOPES            bot scopes, comma-separated, default app_mentions:read,chat:write
    SLACK_USER_SCOPES       user scopes, comma-separated, default none
    SLACK_API_URL           Slack Web API base URL, default https://slack.com/api/ (point it at a fake Slack)
    SLACK_STORE_ENCRYPTION_KEYS   comma-separated Fernet keys for the tokens at rest (first encrypts),
                            default none: a key derived from SECRET_KEY
    SLACK_STORE_REDIS_URL   a Redis URL for the store's find cache (e.g. redis://127.0.0.1:6379/1),
                            default none: no cache
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def env_list(name, default=""):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = os.environ.get("DJANGO_DEBUG", "0").lower() in ("1", "true", "yes", "on")
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "django-insecure-example-project-demo-only")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_slack_store",
    "example_project",  # for its demo_setup command
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_project.urls"
ASGI_APPLICATION = "example_project.asgi.application"

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
            ],
        },
    },
]

_engine = os.environ.get("EXAMPLE_DB_ENGINE", "django.db.backends.sqlite3")
_database = {
    "ENGINE": _engine,
    "NAME": os.environ.get("EXAMPLE_DB_NAME", ""),
    "HOST": os.environ.get("EXAMPLE_DB_HOST", ""),
    "PORT": os.environ.get("EXAMPLE_DB_PORT", ""),
    "USER": os.environ.get("EXAMPLE_DB_USER", ""),
    "PASSWORD": os.environ.get("EXAMPLE_DB_PASSWORD", ""),
}
if _engine == "django.db.backends.sqlite3":
    if not _database["NAME"]:
        (BASE_DIR / ".data").mkdir(exist_ok=True)
        _database["NAME"] = str(BASE_DIR / ".data" / "demo.sqlite3")
    # Take the write lock when a transaction begins, so that two requests writing at once wait for each
    # other instead of one failing with "database is locked".
    _database["OPTIONS"] = {"transaction_mode": "IMMEDIATE"}
elif _engine == "django.db.backends.postgresql":
    # Served over ASGI, each request's queries run in a thread of its own: pooled connections instead of
    # persistent ones, and prepared statements, which live on the pooled connections (docs/performance.md).
    _database["OPTIONS"] = {
        "pool": {"min_size": 1, "max_size": 10, "timeout": 10},
        "server_side_binding": True,
        "prepare_threshold": 5,
    }
elif _engine == "django.db.backends.mysql":
    _database["OPTIONS"] = {"charset": "utf8mb4"}
# Under ASGI persistent connections would not be reused across requests (see above).
_database["CONN_MAX_AGE"] = 0
DATABASES = {"default": _database}

# The find cache (docs/performance.md): set SLACK_STORE_REDIS_URL when several processes serve requests.
_cache_url = os.environ.get("SLACK_STORE_REDIS_URL")
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if _cache_url:
    CACHES["slack"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": _cache_url,
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }

USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "/static/"

# The Slack app (example_project/slack_app.py). The defaults are fake, so the demo starts without a Slack
# account; Slack itself refuses them.
SLACK_CLIENT_ID = os.environ.get("SLACK_CLIENT_ID", "0000000000.demo-client-id")
SLACK_CLIENT_SECRET = os.environ.get("SLACK_CLIENT_SECRET", "demo-client-secret")
SLACK_SIGNING_SECRET = os.environ.get("SLACK_SIGNING_SECRET", "demo-signing-secret")
SLACK_SCOPES = env_list("SLACK_SCOPES", "app_mentions:read,chat:write")
SLACK_USER_SCOPES = env_list("SLACK_USER_SCOPES")

DJANGO_SLACK_STORE = {
    # Bolt's client and the admin's auth.revoke both use it, so the whole app can run against a fake Slack.
    "SLACK_API_URL": os.environ.get("SLACK_API_URL", "https://slack.com/api/"),
    "ENCRYPTION_KEYS": env_list("SLACK_STORE_ENCRYPTION_KEYS"),
    "CACHE_ALIAS": "slack" if _cache_url else None,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,  # keep the server's own loggers (daphne's "Listening on ...")
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "example_project": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # Django's own config gives "django" a console handler (with DEBUG on) and lets it propagate to the
        # root logger, where daphne has put one too: every warning ("Not Found: /x") was printed twice.
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
