"""What the admin and browser tests share: admin URLs, tokens at the fake Slack, the no-token check."""

from django.urls import reverse


def admin_url(model: str, view: str = "changelist", *args) -> str:
    return reverse(f"admin:django_slack_store_{model}_{view}", args=args)


def assert_no_tokens(text: str, *tokens: str) -> None:
    """Neither a token nor its secret middle (all but its type prefix and last 4 characters) is in `text`."""
    for token in tokens:
        if token:
            assert token not in text
            assert token[5:-4] not in text


def tokens_of(*installations) -> list[str]:
    names = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token", "incoming_webhook_url")
    return [getattr(i, name) for i in installations for name in names if getattr(i, name, None)]


def register(slack, *installations):
    """Make the installations' bot and user tokens valid at the fake Slack."""
    for installation in installations:
        ids = {"team_id": installation.team_id, "enterprise_id": installation.enterprise_id}
        if installation.bot_token:
            slack.add_token(
                installation.bot_token, user_id=installation.bot_user_id, bot_id=installation.bot_id, **ids
            )
        if installation.user_token:
            slack.add_token(installation.user_token, user_id=installation.user_id, **ids)


def where_hint(method: str, base: str) -> str:
    """The message that follows failed calls of `method` to the Slack Web API at `base` (docs/admin.md)."""
    return (
        f'The calls to {method} went to {base}{method}, from DJANGO_SLACK_STORE["SLACK_API_URL"] in your '
        f"Django settings (now {base}): set it if your servers reach Slack's Web API at another address "
        "(through a proxy, say)."
    )
