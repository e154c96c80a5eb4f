"""The README test: a new project built from the README's snippets, served by real servers.

It is database-independent (the project has its own SQLite file) and takes a while, so, like the browser
tests, it runs once: README_TESTS=0 deselects it, and scripts/test-all-databases passes that to every
database run after the first.
"""

import os


def pytest_configure(config):
    config.addinivalue_line("markers", "readme: builds and serves a project from README.md (tests/readme/)")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("README_TESTS") != "0":
        return
    readme = [item for item in items if item.get_closest_marker("readme")]
    if readme:
        config.hook.pytest_deselected(items=readme)
        items[:] = [item for item in items if not item.get_closest_marker("readme")]
