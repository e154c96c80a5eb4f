"""Slack's lifecycle events (wired to Bolt by django_slack_store.bolt), and history pruning.

Slack can deliver app_uninstalled and tokens_revoked late, after the workspace reinstalled. So an event
deletes only rows written before its event_time, and its signal is sent only for what is still revoked
afterwards: nothing of that key (or that user, or bot) written since the event remains. Each handler is one
transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

from asgiref.sync import sync_to_async
from django.db import transaction

from .. import native, signals
from ..conf import store_settings
from .base import Effects, signal_ids
from .deletes import Deletes


class PrunedHistory(NamedTuple):
    """What `prune_history()` deleted (or, in a dry run, would delete): rows of each table."""

    installations: int
    bots: int


class Lifecycle(Deletes):
    def handle_app_uninstalled(
        self, *, enterprise_id: str | None, team_id: str | None, event_time: float | None = None
    ) -> None:
        effects = Effects()
        with transaction.atomic(using=self._db()):
            self.delete_all(enterprise_id=enterprise_id, team_id=team_id, written_before=event_time)
            if not (
                self._bots(enterprise_id, team_id).exists()
                or self._installations(enterprise_id, team_id).exists()
            ):
                _app_uninstalled(effects, enterprise_id, team_id)
            self._on_commit(effects)

    async def async_handle_app_uninstalled(
        self, *, enterprise_id: str | None, team_id: str | None, event_time: float | None = None
    ) -> None:
        async def handle(tx: native.Transaction, effects: Effects) -> None:
            await self._async_delete_all(tx, effects, enterprise_id, team_id, event_time)
            if not (
                await self._async_exists(tx, self.bot_model, enterprise_id, team_id)
                or await self._async_exists(tx, self.installation_model, enterprise_id, team_id)
            ):
                _app_uninstalled(effects, enterprise_id, team_id)

        await self._native_delete(
            functools.partial(
                self.handle_app_uninstalled,
                enterprise_id=enterprise_id,
                team_id=team_id,
                event_time=event_time,
            ),
            handle,
        )

    def handle_tokens_revoked(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_ids: Sequence[str] = (),
        bot: bool = False,
        event_time: float | None = None,
    ) -> None:
        effects, revoked_user_ids = Effects(), []
        with transaction.atomic(using=self._db()):
            for user_id in user_ids:
                self.delete_installation(
                    enterprise_id=enterprise_id, team_id=team_id, user_id=user_id, written_before=event_time
                )
                if not self._installations(enterprise_id, team_id, user_id).exists():
                    revoked_user_ids.append(user_id)
            if bot:
                self.delete_bot(enterprise_id=enterprise_id, team_id=team_id, written_before=event_time)
                bot = not self._bots(enterprise_id, team_id).exists()
            _tokens_revoked(effects, enterprise_id, team_id, revoked_user_ids, bot)
            self._on_commit(effects)

    async def async_handle_tokens_revoked(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_ids: Sequence[str] = (),
        bot: bool = False,
        event_time: float | None = None,
    ) -> None:
        async def handle(tx: native.Transaction, effects: Effects) -> None:
            revoked_user_ids, bot_revoked = [], bot
            installations, bots = self.installation_model, self.bot_model
            for user_id in user_ids:
                await self._async_delete(
                    tx, effects, installations, enterprise_id, team_id, user_id, event_time
                )
                if not await self._async_exists(tx, installations, enterprise_id, team_id, user_id):
                    revoked_user_ids.append(user_id)
            if bot:
                await self._async_delete(tx, effects, bots, enterprise_id, team_id, None, event_time)
                bot_revoked = not await self._async_exists(tx, bots, enterprise_id, team_id)
            _tokens_revoked(effects, enterprise_id, team_id, revoked_user_ids, bot_revoked)

        sync = functools.partial(
            self.handle_tokens_revoked,
            enterprise_id=enterprise_id,
            team_id=team_id,
            user_ids=user_ids,
            bot=bot,
            event_time=event_time,
        )
        await self._native_delete(sync, handle)

    # -- housekeeping (manage.py slack_store_cleanup) ---------------------------------------------------

    def prune_history(
        self, keep: int | None = None, *, batch_size: int = 1000, dry_run: bool = False
    ) -> PrunedHistory:
        """Delete this app's installation and bot history beyond the `keep` latest rows: each user's
        installations, each workspace's bots (default DJANGO_SLACK_STORE["HISTORY_KEEP"]; None keeps all).

        The rows finds return are never deleted, so no answer of the store changes, and no signal is sent
        (the deletion signals mean a key lost its installation). At most `batch_size` rows per transaction;
        with `dry_run`, counts what would go and deletes nothing. Returns the counts.
        """
        keep = store_settings.HISTORY_KEEP if keep is None else keep
        if keep is None:
            return PrunedHistory(0, 0)
        pruned = [
            sum(
                model.objects.filter(client_id=self.client_id).prune_history(
                    keep, batch_size=batch_size, dry_run=dry_run
                )
            )
            for model in (self.installation_model, self.bot_model)
        ]
        return PrunedHistory(*pruned)

    async def async_prune_history(
        self, keep: int | None = None, *, batch_size: int = 1000, dry_run: bool = False
    ) -> PrunedHistory:
        # Batched ORM work for a cron job: in a thread.
        return await sync_to_async(self.prune_history)(keep, batch_size=batch_size, dry_run=dry_run)


def _app_uninstalled(effects: Effects, enterprise_id: str | None, team_id: str | None) -> None:
    effects.send(signals.app_uninstalled, **signal_ids(enterprise_id=enterprise_id, team_id=team_id))


def _tokens_revoked(
    effects: Effects, enterprise_id: str | None, team_id: str | None, user_ids: list[str], bot: bool
) -> None:
    """The tokens_revoked signal, when the event left any of its tokens revoked."""
    if user_ids or bot:
        ids = signal_ids(enterprise_id=enterprise_id, team_id=team_id)
        effects.send(signals.tokens_revoked, **ids, user_ids=user_ids, bot=bot)
