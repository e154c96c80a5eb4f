"""Django settings of a benchmark worker (benchmarks/worker.py sets the environment before django.setup()).

    BENCH_DATABASE      sqlite, postgresql or mariadb: the one database of this worker, as "default" (and, on
                        PostgreSQL, as "tuned" with other OPTIONS: config.django_databases)
    BENCH_REDIS_PREFIX  the Redis cache's KEY_PREFIX, new for every run, so no entry of an earlier run is read

DJANGO_SLACK_STORE is empty (the defaults): the cached and thread-hop subjects set theirs around their own
batches only (routing.store_config).
"""

import os

from benchmarks import config

DATABASES = config.django_databases(os.environ.get("BENCH_DATABASE", "sqlite"))
DATABASE_ROUTERS = ["benchmarks.routing.Router"]
DJANGO_SLACK_STORE = {}

SECRET_KEY = "django-slack-store-benchmarks-not-secret"  # tokens are encrypted with a key derived from it
DEBUG = False  # no query log: the query count uses CaptureQueriesContext, which logs around one call only
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = ["django_slack_store"]

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "default"},
    # Sized for the data set, as a deployment would: the default MAX_ENTRIES (300) culls a third of the
    # entries whenever it is exceeded, and a find takes two (the workspace's version and the result).
    "bench-locmem": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "bench",
        "OPTIONS": {"MAX_ENTRIES": 1_000_000},
    },
    "bench-redis": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": config.REDIS_URL,
        "KEY_PREFIX": os.environ.get("BENCH_REDIS_PREFIX", "dss-bench"),
    },
}
