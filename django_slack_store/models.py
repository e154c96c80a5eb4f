"""Installations and bots of a Slack app, one row per (re)install, as slack_sdk's stores keep them.

Absent enterprise, team and user ids are stored as NO_ID (the empty string), not NULL: unique constraints
treat NULLs as distinct on most databases, so NULL ids would let duplicate identities in.
"""

from django.db import models

from .fields import InstantField, SlackIdField, TokenField

NO_ID = ""

# What makes a row distinct. A save of an existing identity updates that row in place (token rotation).
INSTALLATION_IDENTITY = ("client_id", "enterprise_id", "team_id", "user_id", "installed_at")
BOT_IDENTITY = ("client_id", "enterprise_id", "team_id", "installed_at")


class SlackRecordQuerySet(models.QuerySet):
    def for_workspace(self, client_id, enterprise_id, team_id):
        """Rows of one app in one workspace (or one org, when `team_id` is None); None ids mean absent."""
        return self.filter(
            client_id=client_id, enterprise_id=enterprise_id or NO_ID, team_id=team_id or NO_ID
        )


class SlackInstallationQuerySet(SlackRecordQuerySet):
    def for_workspace(self, client_id, enterprise_id, team_id, user_id=None):
        """As for any record, narrowed to one installing user when `user_id` is given."""
        rows = super().for_workspace(client_id, enterprise_id, team_id)
        return rows.filter(user_id=user_id) if user_id else rows

    def latest_first(self):
        return self.order_by("-installed_at", "-id")


class SlackBotQuerySet(SlackRecordQuerySet):
    def freshest_first(self):
        """The bot whose credentials were written last comes first: that is the one served."""
        return self.order_by("-updated_at", "-id")


class SlackRecord(models.Model):
    """What installations and bots share: whose app, where, when."""

    client_id = SlackIdField(
        max_length=64, help_text="The Slack app's OAuth client id; every query is scoped by it."
    )
    app_id = SlackIdField(max_length=32, null=True, blank=True)
    enterprise_id = SlackIdField(max_length=32, blank=True, default=NO_ID, help_text="Empty: not in an org.")
    enterprise_name = models.CharField(max_length=255, null=True, blank=True)
    team_id = SlackIdField(max_length=32, blank=True, default=NO_ID, help_text="Empty: an org-wide install.")
    team_name = models.CharField(max_length=255, null=True, blank=True)
    is_enterprise_install = models.BooleanField("org-wide", default=False)
    installed_at = InstantField()
    custom_values = models.JSONField(default=dict, blank=True)
    updated_at = InstantField(help_text="When the store last wrote this row (a token rotation updates it).")

    class Meta:
        abstract = True

    def _place(self):
        where = self.team_id or f"org {self.enterprise_id}"
        name = self.team_name if self.team_id else self.enterprise_name
        return f"{where} ({name})" if name else where


class SlackInstallation(SlackRecord):
    """One installation by one user, with the user token; the bot's credentials live in SlackBot."""

    enterprise_url = models.TextField(null=True, blank=True)
    user_id = SlackIdField(max_length=32, blank=True, default=NO_ID)
    user_token = TokenField(null=True, blank=True)
    user_refresh_token = TokenField(null=True, blank=True)
    user_scopes = models.JSONField(default=list, blank=True)
    user_token_expires_at = models.BigIntegerField(null=True, blank=True, help_text="Unix time, seconds.")
    incoming_webhook_url = models.TextField(null=True, blank=True)
    incoming_webhook_channel = models.CharField(max_length=255, null=True, blank=True)
    incoming_webhook_channel_id = SlackIdField(max_length=32, null=True, blank=True)
    incoming_webhook_configuration_url = models.TextField(null=True, blank=True)
    token_type = models.CharField(max_length=32, null=True, blank=True)

    objects = SlackInstallationQuerySet.as_manager()

    class Meta:
        verbose_name = "Slack installation"
        constraints = [
            models.UniqueConstraint(fields=INSTALLATION_IDENTITY, name="dss_installation_identity"),
        ]
        indexes = [
            # A workspace's latest installation; for a user's latest, the identity constraint's index serves.
            models.Index(
                fields=["client_id", "enterprise_id", "team_id", "installed_at", "id"],
                name="dss_installation_latest",
            ),
        ]

    def __str__(self):
        return f"{self._place()} by {self.user_id or 'unknown user'}"


class SlackBot(SlackRecord):
    """A bot user's credentials for one installation of a workspace or org."""

    bot_token = TokenField()
    bot_id = SlackIdField(max_length=32, null=True, blank=True)
    bot_user_id = SlackIdField(max_length=32, null=True, blank=True)
    bot_scopes = models.JSONField(default=list, blank=True)
    bot_refresh_token = TokenField(null=True, blank=True)
    bot_token_expires_at = models.BigIntegerField(null=True, blank=True, help_text="Unix time, seconds.")

    objects = SlackBotQuerySet.as_manager()

    class Meta:
        verbose_name = "Slack bot"
        constraints = [
            models.UniqueConstraint(fields=BOT_IDENTITY, name="dss_bot_identity"),
        ]
        indexes = [
            models.Index(
                fields=["client_id", "enterprise_id", "team_id", "updated_at", "id"], name="dss_bot_live"
            ),
        ]

    def __str__(self):
        return f"bot {self.bot_user_id or self.bot_id or '?'} in {self._place()}"
