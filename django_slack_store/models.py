"""Installations and bots of a Slack app, one row per (re)install, as slack_sdk's stores keep them.

Absent enterprise, team and user ids are stored as NO_ID (the empty string), not NULL: unique constraints
treat NULLs as distinct on most databases, so NULL ids would let duplicate identities in.

SlackOAuthState holds the OAuth states of installs in progress (the OAuth state store's table).
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import models, router, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from . import crypto
from .arguments import check_int
from .fields import (
    BINDING_IDS,
    UTC,
    InstantField,
    SlackIdField,
    Stored,
    TokenField,
    open_tokens,
    secret_fields,
)

if TYPE_CHECKING:
    from typing import Self

__all__ = [
    "SlackBot",
    "SlackBotQuerySet",
    "SlackInstallation",
    "SlackInstallationQuerySet",
    "SlackOAuthState",
]

_Record = TypeVar("_Record", bound="SlackRecord")
_QuerySet = TypeVar("_QuerySet", bound="SlackRecordQuerySet[Any]")

NO_ID = ""

# What makes a row distinct. A save of an existing identity updates that row in place (token rotation).
INSTALLATION_IDENTITY = ("client_id", "enterprise_id", "team_id", "user_id", "installed_at")
BOT_IDENTITY = ("client_id", "enterprise_id", "team_id", "installed_at")
# Columns the store fills itself rather than from slack_sdk's Installation/Bot.
STORE_COLUMNS = ("id", "client_id", "updated_at")


@functools.cache
def slack_fields(model: type[models.Model]) -> tuple[models.Field[Any, Any], ...]:
    """The model's columns that mirror attributes of slack_sdk's Installation/Bot."""
    return tuple(field for field in model._meta.concrete_fields if field.name not in STORE_COLUMNS)


class SlackRecordQuerySet(models.QuerySet[_Record]):
    if TYPE_CHECKING:
        _db: str | None  # the alias given to `using()`; missing from django-stubs

        def _history_beyond(self, keep: int) -> Q | Exists:
            """Each subclass's condition for the rows beyond the `keep` latest of their group."""
            ...

    def for_workspace(
        self: _QuerySet, client_id: str, enterprise_id: str | None, team_id: str | None
    ) -> _QuerySet:
        """Rows of one app in one workspace (or one org, when `team_id` is None); None ids mean absent."""
        return self.filter(
            client_id=client_id, enterprise_id=enterprise_id or NO_ID, team_id=team_id or NO_ID
        )

    def prune_history(self, keep: int, *, batch_size: int = 1000, dry_run: bool = False) -> Iterator[int]:
        """Delete these rows' history beyond the `keep` latest of each group: `manage.py slack_store_cleanup`.

        Never deletes a row a find returns: each user's latest installation (the workspace's latest is one
        of them) and the bot `find_bot` serves stay whatever `keep` is, so pruning changes no answer of the
        store. Groups and what "latest" means are the subclasses' `_history_beyond()`. Deletes at most
        `batch_size` rows per transaction, walking by primary key, and yields how many each batch deleted
        (with `dry_run`, would delete: nothing is written). Each batch re-checks its rows under lock, so a
        concurrent save that makes an old bot the served one (a token rotation) keeps it.
        """
        check_int("keep", keep, 0)
        check_int("batch_size", batch_size, 1)
        db = self._db or router.db_for_write(self.model)
        prunable = (
            self.using(db).filter(self._history_beyond(keep)).order_by("pk").values_list("pk", flat=True)
        )
        last_pk = None
        while True:
            with transaction.atomic(using=db):
                batch = prunable if last_pk is None else prunable.filter(pk__gt=last_pk)
                pks = list((batch if dry_run else batch.select_for_update())[:batch_size])
                if pks and not dry_run:
                    self.model._base_manager.using(db).filter(pk__in=pks).delete()
            if not pks:
                return
            last_pk = pks[-1]
            yield len(pks)

    def latest_first(self: _QuerySet) -> _QuerySet:
        """The latest install first; among installs of the same instant, the row written last."""
        return self.order_by("-installed_at", "-id")

    def _same_key(self) -> dict[str, OuterRef]:
        return {name: OuterRef(name) for name in ("client_id", "enterprise_id", "team_id")}

    def reencrypt_tokens(self, *, batch_size: int = 500, dry_run: bool = False) -> Iterator[tuple[int, int]]:
        """Re-encrypt the secret columns of these rows with the first key, bound to their rows: `manage.py
        slack_store_rotate_keys`.

        Walks the rows by primary key, `batch_size` at a time, each batch in one transaction, and yields
        `(rows checked, rows re-encrypted)` per batch. Rows already bound with the first key are skipped, so
        an interrupted run resumes by running again; unbound values of earlier releases (`aesgcm:`,
        `fernet:`, plaintext) get bound whatever ACCEPT_UNBOUND_TOKENS says. A row is rewritten in one UPDATE
        with a value the current keys decrypt: none is unreadable at any moment. The batch's rows are locked
        (where the database can), so a concurrent save (a Slack token rotation) is not overwritten with the
        old token. A value no key decrypts raises TokenDecryptionError naming the row, before its batch
        writes anything. Only the secret columns are written (`updated_at` decides which bot is served, so
        it must not move).
        """
        model, db = self.model, self._db or router.db_for_write(self.model)
        fields = secret_fields(model)
        ids = [name for name in BINDING_IDS if hasattr(model, name)]
        rows = self.using(db).order_by("pk").values_list("pk", *ids, *(field.name for field in fields))
        last_pk = None
        while True:
            with transaction.atomic(using=db):
                page = rows if last_pk is None else rows.filter(pk__gt=last_pk)
                batch = list((page if dry_run else page.select_for_update())[:batch_size])
                stale = []
                for pk, *values in batch:
                    row = dict(zip(ids, values, strict=False))
                    bound_to = [row.get(name) for name in BINDING_IDS]
                    stored = dict(zip(fields, values[len(ids) :], strict=True))
                    if all(
                        not value or crypto.is_current(value, field.binding(bound_to))
                        for field, value in stored.items()
                    ):
                        continue
                    resealed = {
                        field.name: _reseal(field, value, bound_to, pk) for field, value in stored.items()
                    }
                    stale.append(model(pk=pk, **resealed))
                if stale and not dry_run:
                    model._base_manager.using(db).bulk_update(stale, [field.name for field in fields])
            if not batch:
                return
            last_pk = batch[-1][0]
            yield len(batch), len(stale)


@sensitive_variables()
def _reseal(field: TokenField[Any, Any], stored: Stored | None, ids: list[str | None], pk: object) -> Any:
    """A stored value, bound or not, stored again bound to its row with the first key."""
    if not stored:
        return stored
    try:
        return Stored(crypto.rebind(stored, field.binding(ids)))
    except crypto.TokenDecryptionError:
        raise crypto.TokenDecryptionError(model=field.model, field_name=field.name, pk=pk) from None


class SlackInstallationQuerySet(SlackRecordQuerySet["SlackInstallation"]):
    def for_workspace(
        self,
        client_id: str,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
    ) -> SlackInstallationQuerySet:
        """As for any record, narrowed to one installing user when `user_id` is given."""
        rows = super().for_workspace(client_id, enterprise_id, team_id)
        return rows.filter(user_id=user_id) if user_id else rows

    def latest_per_user(self) -> SlackInstallationQuerySet:
        """Each user's latest installation in each workspace: the rows `find_installation(user_id=...)`
        serves, whose user tokens are the ones in use."""
        return self.filter(~Exists(self._newer_of_user()))

    def _newer_of_user(self) -> models.QuerySet[SlackInstallation]:
        """Installations of the outer row's user in its workspace installed after it."""
        return self.model._base_manager.filter(
            **self._same_key(), user_id=OuterRef("user_id"), installed_at__gt=OuterRef("installed_at")
        )

    def _history_beyond(self, keep: int) -> Exists:
        """Rows with at least `keep` (and at least one) newer installations by the same user: each user's
        `keep` latest stay. `installed_at` is unique per user (the identity): "newer" needs no tie-break."""
        return Exists(self._newer_of_user().order_by().values("pk")[max(keep, 1) - 1 :])


class SlackBotQuerySet(SlackRecordQuerySet["SlackBot"]):
    def freshest_first(self) -> SlackBotQuerySet:
        """The bot whose credentials were written last comes first: that is the one served."""
        return self.order_by("-updated_at", "-id")

    def served(self) -> SlackBotQuerySet:
        """The bot `find_bot` serves for each workspace (and org): the freshest of its key."""
        return self.filter(~Exists(self._fresher()))

    def _fresher(self) -> models.QuerySet[SlackBot]:
        """Bots of the outer row's key written after it, in `freshest_first()` order."""
        return self.model._base_manager.filter(**self._same_key()).filter(
            Q(updated_at__gt=OuterRef("updated_at"))
            | Q(updated_at=OuterRef("updated_at"), pk__gt=OuterRef("pk"))
        )

    def _history_beyond(self, keep: int) -> Q:
        """Bots that are not the one served (a fresher one exists, in `freshest_first()` order) and, with
        `keep`, have at least `keep` newer installs in their workspace: the `keep` latest by `installed_at`
        stay, and the served bot too, even when it is older (an old install whose token was rotated)."""
        condition = Q(Exists(self._fresher()))
        if keep:
            newer = self.model._base_manager.filter(
                **self._same_key(), installed_at__gt=OuterRef("installed_at")
            )
            condition &= Q(Exists(newer.order_by().values("pk")[keep - 1 :]))
        return condition


class SlackRecord(models.Model):
    """What installations and bots share: whose app, where, when."""

    client_id = SlackIdField(
        _("client id"),
        max_length=64,
        help_text=_("The Slack app's OAuth client id; every query is scoped by it."),
    )
    app_id = SlackIdField(_("app id"), max_length=32, null=True, blank=True)
    enterprise_id = SlackIdField(
        _("enterprise id"), max_length=32, blank=True, default=NO_ID, help_text=_("Empty: not in an org.")
    )
    enterprise_name = models.CharField(_("enterprise name"), max_length=255, null=True, blank=True)
    team_id = SlackIdField(
        _("team id"), max_length=32, blank=True, default=NO_ID, help_text=_("Empty: an org-wide install.")
    )
    team_name = models.CharField(_("team name"), max_length=255, null=True, blank=True)
    is_enterprise_install = models.BooleanField(_("org-wide"), default=False)
    installed_at = InstantField(_("installed at"))
    custom_values = models.JSONField(_("custom values"), default=dict, blank=True)
    updated_at = InstantField(
        _("updated at"), help_text=_("When the store last wrote this row (a token rotation updates it).")
    )

    class Meta:
        abstract = True

    @classmethod
    def from_db(
        cls, db: str | None, field_names: Collection[str], values: Collection[Any], **kwargs: Any
    ) -> Self:
        # Secret columns are bound to their row: they are opened once the whole row is read.
        instance = super().from_db(db, field_names, values, **kwargs)
        open_tokens(instance)
        return instance

    def _place(self) -> str:
        where = self.team_id or f"org {self.enterprise_id}"
        name = self.team_name if self.team_id else self.enterprise_name
        return f"{where} ({name})" if name else where


class SlackInstallation(SlackRecord):
    """One installation by one user, with the user token; the bot's credentials live in SlackBot."""

    enterprise_url = models.TextField(_("enterprise url"), null=True, blank=True)
    user_id = SlackIdField(_("user id"), max_length=32, blank=True, default=NO_ID)
    user_token = TokenField(_("user token"), null=True, blank=True)
    user_refresh_token = TokenField(_("user refresh token"), null=True, blank=True)
    user_scopes = models.JSONField(_("user scopes"), default=list, blank=True)
    user_token_expires_at = models.BigIntegerField(
        _("user token expires at"), null=True, blank=True, help_text=_("Unix time, seconds.")
    )
    incoming_webhook_url = TokenField(_("incoming webhook url"), null=True, blank=True)
    incoming_webhook_channel = models.CharField(
        _("incoming webhook channel"), max_length=255, null=True, blank=True
    )
    incoming_webhook_channel_id = SlackIdField(
        _("incoming webhook channel id"), max_length=32, null=True, blank=True
    )
    incoming_webhook_configuration_url = models.TextField(
        _("incoming webhook configuration url"), null=True, blank=True
    )
    token_type = models.CharField(_("token type"), max_length=32, null=True, blank=True)

    objects = SlackInstallationQuerySet.as_manager()

    class Meta:
        verbose_name = _("Slack installation")
        verbose_name_plural = _("Slack installations")
        # The admin's "Revoke" action (auth.revoke at Slack, then delete): not implied by "delete".
        permissions = [("revoke_slackinstallation", "Can revoke Slack installation")]
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

    def __str__(self) -> str:
        return f"{self._place()} by {self.user_id or 'unknown user'}"


class SlackBot(SlackRecord):
    """A bot user's credentials for one installation of a workspace or org."""

    bot_token = TokenField(_("bot token"))
    bot_id = SlackIdField(_("bot id"), max_length=32, null=True, blank=True)
    bot_user_id = SlackIdField(_("bot user id"), max_length=32, null=True, blank=True)
    bot_scopes = models.JSONField(_("bot scopes"), default=list, blank=True)
    bot_refresh_token = TokenField(_("bot refresh token"), null=True, blank=True)
    bot_token_expires_at = models.BigIntegerField(
        _("bot token expires at"), null=True, blank=True, help_text=_("Unix time, seconds.")
    )

    objects = SlackBotQuerySet.as_manager()

    class Meta:
        verbose_name = _("Slack bot")
        verbose_name_plural = _("Slack bots")
        permissions = [("revoke_slackbot", "Can revoke Slack bot")]
        constraints = [
            models.UniqueConstraint(fields=BOT_IDENTITY, name="dss_bot_identity"),
        ]
        indexes = [
            models.Index(
                fields=["client_id", "enterprise_id", "team_id", "updated_at", "id"], name="dss_bot_live"
            ),
        ]

    def __str__(self) -> str:
        return f"bot {self.bot_user_id or self.bot_id or '?'} in {self._place()}"


class SlackOAuthStateManager(models.Manager["SlackOAuthState"]):
    """The OAuth state store's purge of expired states (its consume is in statements.py)."""

    def purge_expired(self, now: datetime.datetime, limit: int | None = None) -> int:
        """Delete states expired at `now` (at most `limit` of them, oldest first); returns how many.

        With a limit it is two short statements served by the expiry index: select the ids, delete them.
        (One `DELETE ... LIMIT` is not portable: MySQL and MariaDB refuse LIMIT in an IN subquery, SQLite
        usually lacks `DELETE ... LIMIT`.)
        """
        db = self._db or router.db_for_write(self.model)
        expired = self.using(db).filter(expires_at__lte=now)
        if limit is not None:
            ids = list(expired.order_by("expires_at").values_list("pk", flat=True)[:limit])
            if not ids:
                return 0
            expired = expired.filter(pk__in=ids)
        deleted, _ = expired.delete()
        return deleted


class SlackOAuthState(models.Model):
    """An OAuth `state` handed to a browser at the start of an install, until it comes back or expires.

    Only the SHA-256 digest of the state is stored: whoever reads the table (a backup, a replica) cannot
    finish someone else's install with it. The state is 256 random bits, so an unkeyed hash is enough.
    """

    digest = models.CharField(
        _("digest"), max_length=64, unique=True, help_text=_("SHA-256 of the state, in hex.")
    )
    expires_at = InstantField(
        _("expires at"), help_text=_("The state is valid strictly before this instant.")
    )

    objects = SlackOAuthStateManager()

    class Meta:
        verbose_name = _("Slack OAuth state")
        verbose_name_plural = _("Slack OAuth states")
        indexes = [
            # The purge: the oldest expired states first.
            models.Index(fields=["expires_at"], name="dss_oauth_state_expiry"),
        ]

    def __str__(self) -> str:
        # Neither the state nor its digest: the row is identified by its id.
        expires = f"{self.expires_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC" if self.expires_at else "?"
        return f"OAuth state #{self.pk}, expires {expires}"
