"""Signals of the installation store and of the Bolt lifecycle listeners.

Every signal is sent with `sender` = the store class, after the transaction that made the change commits:
a change rolled back by the caller's own `transaction.atomic()` sends nothing. Sync and async receivers
are both called (async ones are awaited). Only `installation_saved` and `bot_saved` carry slack_sdk
objects, and so tokens, for receivers that need them; the deletion and revocation signals carry ids only.
"""

from django.dispatch import Signal

__all__ = [
    "app_uninstalled",
    "bot_deleted",
    "bot_saved",
    "installation_deleted",
    "installation_saved",
    "tokens_revoked",
]

# An installation was saved (a new install or a token rotation).
# kwargs: installation (the slack_sdk Installation given to save()), client_id.
installation_saved = Signal()

# A bot was saved: by save_bot(), or by save() of an installation with a bot token.
# kwargs: bot (slack_sdk Bot), client_id.
bot_saved = Signal()

# delete_installation() or delete_all() removed at least one installation row.
# kwargs: client_id, enterprise_id, team_id, user_id (None: every user's).
installation_deleted = Signal()

# delete_bot() or delete_all() removed at least one bot row.
# kwargs: client_id, enterprise_id, team_id.
bot_deleted = Signal()

# Slack reported the app uninstalled from a workspace or org (the `app_uninstalled` event), and no
# installation written since the event remains: a late event after a reinstall sends nothing.
# kwargs: client_id, enterprise_id, team_id.
app_uninstalled = Signal()

# Slack reported tokens revoked (the `tokens_revoked` event). Lists what was revoked and not re-authorised
# since the event: user_ids whose user tokens were revoked, bot=True if the bot token was.
# kwargs: client_id, enterprise_id, team_id, user_ids (list of str), bot (bool).
tokens_revoked = Signal()
