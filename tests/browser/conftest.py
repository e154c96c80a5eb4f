"""Real-browser tests: Debian's Chromium driven by Playwright against pytest-django's live server.

Chromium comes from apt (`apt-get install chromium`, as `.ci/run` does): Playwright's own browser downloads
are not used. Without /usr/bin/chromium the tests skip with that reason, unless REQUIRE_BROWSER=1 (CI), which
makes it a failure. BROWSER_TESTS=0 deselects them: scripts/test-all-databases runs them in its first
database run only. The window is a laptop's, 1280x800, with the admin's nav sidebar open (its default).
Screenshots go to <pytest's base temp dir>/screenshots; those the docs show (test_demo_admin.py's, of the
demo's data) also go to BROWSER_SCREENSHOTS_DIR when it is set: `BROWSER_SCREENSHOTS_DIR=docs/images`
refreshes docs/images/.
"""

import os
import shutil
from pathlib import Path

import pytest

from tests.support.selection import deselect_when_off

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--no-proxy-server",  # the live server is local; Chromium on Linux would otherwise obey http_proxy
]
SCREENSHOTS = pytest.StashKey[Path]()


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives Debian's Chromium (tests/browser/)")


def pytest_collection_modifyitems(config, items):
    deselect_when_off(config, items, "browser", "BROWSER_TESTS")


def pytest_terminal_summary(terminalreporter, config):
    directory = config.stash.get(SCREENSHOTS, None)
    if directory is not None and any(directory.iterdir()):
        terminalreporter.write_line(f"browser screenshots: {directory}")


def _unavailable(reason):
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (REQUIRE_BROWSER=1)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium():
    """One Chromium for the module. While Playwright's sync API is running, Django sees an event loop in
    this thread and refuses ORM calls (SynchronousOnlyOperation): the tests' own setup and assertions are
    plain sync code, so the check is lifted for as long as the browser is up, and only then."""
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("browser tests need the playwright package (pip install -e '.[test]')")
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(chromium, live_server):
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, base_url=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshot(request, tmp_path_factory):
    """`screenshot(page, name, docs=False)`: a full-page PNG in the run's screenshots/, and with `docs=True`
    in BROWSER_SCREENSHOTS_DIR too."""
    directory = tmp_path_factory.getbasetemp() / "screenshots"
    directory.mkdir(exist_ok=True)
    request.config.stash[SCREENSHOTS] = directory
    extra = os.environ.get("BROWSER_SCREENSHOTS_DIR")

    def screenshot(page, name, docs=False):
        path = directory / f"{name}.png"
        page.screenshot(path=path, full_page=True)
        if extra and docs:
            shutil.copyfile(path, Path(extra) / path.name)
        return path

    return screenshot
