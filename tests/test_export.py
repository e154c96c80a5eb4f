"""`manage.py slack_store_export`, and its JSON Lines imported back with `slack_store_import --jsonl`."""

import io
import json
import stat

import pytest
from django.core.management import CommandError, call_command

from django_slack_store.masking import mask_token, mask_url
from django_slack_store.models import SlackBot, SlackInstallation
from django_slack_store.transfer import export_records
from tests.support.admin import assert_no_tokens
from tests.support.factories import BASE_TIME, InstallationFactory, rotated
from tests.support.store_api import CLIENT_ID

TOKENS = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token")
LOOKUPS = [
    {"enterprise_id": "E0GRID", "team_id": "T0FULL"},
    {"enterprise_id": "E0GRID", "team_id": "T0FULL", "user_id": "U0FULL"},
    {"enterprise_id": None, "team_id": "T0ROT"},
    {"enterprise_id": None, "team_id": "T0ROT", "user_id": "U0OLD"},
    {"enterprise_id": "E0ORG", "team_id": None, "is_enterprise_install": True},
    {"enterprise_id": None, "team_id": "T0USER"},
]


def fill(store):
    """Every field set; a rotated older bot (served, though not the latest installed); an org; a user-only
    install without a bot; a second Slack app."""
    store.save(InstallationFactory(complete=True, team_id="T0FULL", user_id="U0FULL"))
    old = InstallationFactory(team_id="T0ROT", user_id="U0OLD", installed_at=BASE_TIME, rotating=True)
    store.save(old)
    store.save(InstallationFactory(team_id="T0ROT", user_id="U0NEW", installed_at=BASE_TIME + 60))
    store.save_bot(rotated(old.to_bot(), bot_token="xoxb-test-rotated-old-bot"))
    store.save(InstallationFactory(org_wide=True))
    store.save(InstallationFactory(team_id="T0USER", bot_token=None, bot_id=None, bot_user_id=None))


def answers(store):
    found = []
    for lookup in LOOKUPS:
        installation = store.find_installation(**lookup)
        bot = store.find_bot(**{key: value for key, value in lookup.items() if key != "user_id"})
        found.append((vars(installation), bot and vars(bot)))
    return found


def export(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("slack_store_export", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def lines(text):
    return [json.loads(line) for line in text.splitlines()]


def test_tokens_are_masked_by_default(api):
    fill(api)
    other = api.with_client_id("9999.8888")
    other.save(InstallationFactory(team_id="T0OTHER"))
    out, err = export()

    records = lines(out)
    assert [record["type"] for record in records] == ["installation"] * 6 + ["bot"] * 5
    assert "Exported 6 installation(s) and 5 bot(s), tokens masked." in err  # not mixed with the lines
    assert "xoxb-test" not in out and "xoxp-test" not in out and "xoxe-test" not in out
    full = next(record for record in records if record["type"] == "bot" and record["team_id"] == "T0FULL")
    stored = SlackBot.objects.get(team_id="T0FULL")
    assert full["bot_token"] == f"xoxb-…{stored.bot_token[-4:]}" == mask_token(stored.bot_token)
    assert full["bot_refresh_token"].startswith("xoxe-…")
    assert full["custom_values"] == InstallationFactory(complete=True).custom_values
    assert full["client_id"] == CLIENT_ID and full["enterprise_id"] == "E0GRID"
    org = next(record for record in records if record.get("is_enterprise_install"))
    assert org["team_id"] is None and type(org["installed_at"]) is float and type(org["updated_at"]) is float


def test_the_incoming_webhook_url_is_masked_as_the_admin_masks_it(api):
    """It can post to its channel: a credential like the tokens, in clear with --include-tokens only."""
    installation = InstallationFactory(complete=True)
    api.save(installation)
    url = installation.incoming_webhook_url
    masked, _ = export()
    assert lines(masked)[0]["incoming_webhook_url"] == mask_url(url) == "https://hooks.example.test/…fake"
    assert_no_tokens(masked, url)
    assert lines(export("--include-tokens")[0])[0]["incoming_webhook_url"] == url


def test_a_masked_incoming_webhook_url_is_never_imported(api, tmp_path):
    api.save(InstallationFactory(complete=True, bot_token=None))
    path = tmp_path / "masked.jsonl"
    path.write_text(
        "".join(
            json.dumps({**record, "user_token": None, "user_refresh_token": None}) + "\n"
            for record in lines(export()[0])
        )
    )
    SlackInstallation.objects.all().delete()
    with pytest.raises(
        CommandError, match="line 1: incoming_webhook_url is masked: the export was made without"
    ):
        call_command("slack_store_import", "--jsonl", str(path), stdout=io.StringIO())
    assert SlackInstallation.objects.count() == 0


# The admin's rule (django_slack_store.masking): one format wherever a token is shown.
MASKED = [
    ("xoxb-1234-5678-abcdefgh", "xoxb-…efgh"),  # a Slack token: its type and its last 4 characters
    ("xoxb-12345", "••••••••"),  # too short to show any of
    ("1234567890abcdefghijkl", "…ijkl"),  # no Slack type prefix: the end only
]


@pytest.mark.parametrize(("token", "masked"), MASKED, ids=["slack", "short", "not-slack"])
def test_tokens_are_masked_as_the_admin_masks_them(api, token, masked):
    api.save(InstallationFactory(team_id="T0MASK", user_token=token, bot_token=token))
    installation, bot = lines(export()[0])
    assert installation["user_token"] == bot["bot_token"] == masked == mask_token(token)


@pytest.mark.parametrize(("token", "masked"), MASKED[1:], ids=["short", "not-slack"])
def test_a_masked_short_or_non_slack_value_is_refused_as_masked(api, tmp_path, token, masked):
    api.save(InstallationFactory(team_id="T0MASK", user_token=token))
    path = tmp_path / "masked.jsonl"
    export("--output", str(path))
    assert lines(path.read_text())[0]["user_token"] == masked
    SlackInstallation.objects.all().delete()
    SlackBot.objects.all().delete()

    with pytest.raises(CommandError, match="line 1: user_token is masked"):
        call_command("slack_store_import", "--jsonl", str(path), stdout=io.StringIO())
    assert (SlackInstallation.objects.count(), SlackBot.objects.count()) == (0, 0)


def test_an_export_with_tokens_imports_back_to_the_same_answers(api, tmp_path):
    fill(api)
    before = answers(api)
    path = tmp_path / "export.jsonl"

    out, _ = export("--include-tokens", "--output", str(path))

    assert "Exported 5 installation(s) and 4 bot(s) to" in out and "with tokens" in out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # as secret as the tokens
    assert "xoxb-test-rotated-old-bot" in path.read_text()
    SlackInstallation.objects.all().delete()
    SlackBot.objects.all().delete()

    result = io.StringIO()
    call_command("slack_store_import", "--jsonl", str(path), stdout=result)

    assert answers(api) == before
    assert (
        "Verified: the latest installation and the served bot of each of 4 workspace(s)" in result.getvalue()
    )
    # The rotated older bot is still the one served: bots are written back in their updated_at order.
    assert api.find_bot(enterprise_id=None, team_id="T0ROT").bot_token == "xoxb-test-rotated-old-bot"


def test_export_then_import_through_a_pipe(api):
    fill(api)
    before = answers(api)
    out, _ = export("--include-tokens")
    SlackInstallation.objects.all().delete()
    SlackBot.objects.all().delete()
    call_command("slack_store_import", "--jsonl", "-", stdin=io.StringIO(out), stdout=io.StringIO())
    assert answers(api) == before
    # A second run finds everything already here.
    result = io.StringIO()
    call_command("slack_store_import", "--jsonl", "-", stdin=io.StringIO(out), stdout=result)
    assert (
        "installations 0 new, 0 updated, 5 unchanged; bots 0 new, 0 updated, 4 unchanged" in result.getvalue()
    )


def test_masked_tokens_are_never_imported(api, tmp_path):
    fill(api)
    path = tmp_path / "masked.jsonl"
    export("--output", str(path))
    SlackInstallation.objects.all().delete()
    SlackBot.objects.all().delete()

    with pytest.raises(CommandError, match="line 1: user_token is masked: the export was made without"):
        call_command("slack_store_import", "--jsonl", str(path), stdout=io.StringIO())
    assert (SlackInstallation.objects.count(), SlackBot.objects.count()) == (0, 0)


def test_client_id_selects_one_app(api):
    fill(api)
    api.with_client_id("9999.8888").save(InstallationFactory(team_id="T0OTHER"))
    out, _ = export("--client-id", "9999.8888")
    assert [(record["client_id"], record["team_id"]) for record in lines(out)] == [
        ("9999.8888", "T0OTHER")
    ] * 2


def test_a_failed_export_leaves_no_file(api, tmp_path, monkeypatch):
    fill(api)
    path = tmp_path / "export.jsonl"
    path.write_text("the previous export\n")

    def broken(**kwargs):
        yield {"type": "installation"}
        raise RuntimeError("the database went away")

    monkeypatch.setattr("django_slack_store.management.commands.slack_store_export.export_records", broken)
    with pytest.raises(RuntimeError):
        export("--output", str(path))
    assert path.read_text() == "the previous export\n"
    assert [p.name for p in tmp_path.iterdir()] == ["export.jsonl"]


def test_a_write_that_fails_is_a_command_error_and_leaves_no_file(api, tmp_path, monkeypatch):
    """A disk full, or a directory made at the path while the export ran."""
    api.save(InstallationFactory())

    def replace(source, target):
        raise IsADirectoryError(21, "Is a directory")

    monkeypatch.setattr("django_slack_store.management.commands.slack_store_export.os.replace", replace)
    with pytest.raises(CommandError, match=r"Cannot write .*export.jsonl: \[Errno 21\] Is a directory"):
        export("--output", str(tmp_path / "export.jsonl"))
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments(db, tmp_path):
    with pytest.raises(CommandError, match="--batch-size: must be at least 1"):
        export("--batch-size", "0")
    with pytest.raises(CommandError, match="Cannot write"):
        export("--output", str(tmp_path / "missing" / "export.jsonl"))


def test_an_output_that_is_a_directory_is_refused(api, tmp_path):
    api.save(InstallationFactory())
    directory = tmp_path / "exports"
    directory.mkdir()
    with pytest.raises(CommandError, match=f"Cannot write {directory}: it is a directory; give a file name"):
        export("--output", str(directory))
    assert list(tmp_path.iterdir()) == [directory] and list(directory.iterdir()) == []


@pytest.mark.parametrize(("chunk_size", "error"), [(0, ValueError), ("100", TypeError), (True, TypeError)])
def test_a_bad_chunk_size_is_refused_when_called(chunk_size, error):
    with pytest.raises(error, match="chunk_size"):
        export_records(chunk_size=chunk_size)
