"""The example project served as `make demo` serves it (daphne, DEBUG on, the demo's fake credentials): the
log says each thing once, and the admin's "View site" link leads to a page.

The demo runs on SQLite, whatever DB_BACKEND says, so these tests run in the SQLite run only.
"""

import os
import sys

import pytest

from tests.support.example_server import ExampleServer, clean_environment, run

pytestmark = pytest.mark.skipif(
    os.environ.get("DB_BACKEND", "sqlite") != "sqlite",
    reason="the demo runs on SQLite: tested in the SQLite run",
)


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    directory = tmp_path_factory.mktemp("demo-server")
    env = clean_environment(
        DJANGO_SETTINGS_MODULE="example_project.settings",
        DJANGO_DEBUG="1",
        EXAMPLE_DB_NAME=str(directory / "demo.sqlite3"),
    )
    run([sys.executable, "manage.py", "migrate", "--noinput"], env=env)
    server = ExampleServer(env, directory / "server.log")
    try:
        yield server
    finally:
        server.stop()


def test_a_warning_is_logged_once(demo_server):
    assert demo_server.get("/no-such-page").status == 404
    assert demo_server.post_from_slack(("{}", "application/json"), signing_secret="wrong").status == 401

    # Django logs a response before sending it, and the log is unbuffered: it is all in the file by now.
    log = demo_server.output()
    assert log.count("Not Found: /no-such-page") == 1, log
    assert log.count("Unauthorized: /slack/events") == 1, log


def test_view_site_leads_to_a_page_with_the_demo_links(demo_server):
    login = demo_server.get("/admin/login/")
    assert login.status == 200
    home = demo_server.get("/")
    assert home.status == 200
    for link in (
        'href="/admin/"',
        'href="/slack/install"',
        f"http://127.0.0.1:{demo_server.port}/slack/events",
    ):
        assert link in home.body
