"""The README test: a new project built from the README's snippets, served by real servers.

It is database-independent (the project has its own SQLite file) and takes a while, so, like the browser
tests, it runs once: README_TESTS=0 deselects it, and scripts/test-all-databases passes that to every
database run after the first.
"""

from tests.support.selection import deselect_when_off


def pytest_configure(config):
    config.addinivalue_line("markers", "readme: builds and serves a project from README.md (tests/readme/)")


def pytest_collection_modifyitems(config, items):
    deselect_when_off(config, items, "readme", "README_TESTS")
