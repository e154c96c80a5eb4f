"""`make demo`'s setup, run twice in a fresh copy of the repository: everything but the venv (the current
interpreter stands in for .venv) and serving (test_slack_app.py serves the same application with daphne).

The demo always runs on SQLite, whatever DB_BACKEND says, so these tests run in the SQLite run only.
"""

import os
import shutil
import subprocess
import sys

import pytest

from tests.support.example_server import REPO, clean_environment, run

pytestmark = pytest.mark.skipif(
    os.environ.get("DB_BACKEND", "sqlite") != "sqlite",
    reason="the demo runs on SQLite: tested in the SQLite run",
)

URLS = [f"  http://127.0.0.1:8000{path} " for path in ("/", "/admin/", "/slack/install", "/slack/events")]

COUNT_ROWS = """
from django.contrib.auth import get_user_model
from django_slack_store.models import SlackBot, SlackInstallation
admin = get_user_model().objects.get(username="admin")
assert admin.is_superuser and admin.check_password("demo-password")
print(SlackInstallation.objects.count(), SlackBot.objects.count())
"""


def fresh_copy(destination):
    """The files a clone of the working tree would have: tracked and untracked, minus what git ignores
    (.venv, .data, caches)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        timeout=60,
    )
    if listed.returncode != 0:
        pytest.skip(f"{REPO} is not a git checkout")
    for name in listed.stdout.decode().split("\0"):
        source = REPO / name
        if name and source.is_file():  # a tracked file deleted in the working tree is listed too
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


def test_demo_setup_works_in_a_fresh_copy_and_a_second_run_reuses_everything(tmp_path):
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    repo = fresh_copy(tmp_path / "repo")
    assert not (repo / ".data").exists()
    env = clean_environment()
    demo_setup = [make, "--no-print-directory", "-C", str(repo), "demo-setup", f"PYTHON={sys.executable}"]

    first = run(demo_setup, env=env, cwd=repo)

    assert (repo / ".data" / "demo.sqlite3").is_file()
    assert "Admin user: admin / demo-password (created)" in first
    assert first.count("  created  ") == 8 and "  exists   " not in first
    for url in URLS:
        assert url in first

    second = run(demo_setup, env=env, cwd=repo)

    assert "No migrations to apply." in second
    assert "Admin user: admin (exists" in second
    assert second.count("  exists   ") == 8 and "  created  " not in second
    for url in URLS:
        assert url in second
    check = [sys.executable, "manage.py", "shell", "-c", COUNT_ROWS]
    counts = run(check, env=clean_environment(DJANGO_SETTINGS_MODULE="example_project.settings"), cwd=repo)
    # Eight installations: one without a bot, and one whose bot was revoked.
    assert counts.splitlines()[-1].split() == ["8", "6"]


def test_demo_setup_refuses_to_run_without_debug(tmp_path):
    env = clean_environment(
        DJANGO_SETTINGS_MODULE="example_project.settings",
        EXAMPLE_DB_NAME=str(tmp_path / "not-a-demo.sqlite3"),
    )

    refused = subprocess.run(
        [sys.executable, "manage.py", "demo_setup"],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert refused.returncode != 0
    assert "runs only with DEBUG on" in refused.stderr
    assert not (tmp_path / "not-a-demo.sqlite3").exists()
