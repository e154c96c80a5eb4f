"""What the tests share and are not tests themselves: the store called in each mode (store_api), factories,
the fake Slack Web API, signed Slack requests, PgBouncer, the example project's server, and helpers for
concurrency, the admin and tokens at rest."""
