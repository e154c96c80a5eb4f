"""Slow, database-independent test groups, which scripts/test-all-databases runs in its first database run
only."""

import os


def deselect_when_off(config, items, marker: str, variable: str) -> None:
    """Deselect the tests marked `marker` when the environment sets `variable` to "0"."""
    if os.environ.get(variable) != "0":
        return
    marked = [item for item in items if item.get_closest_marker(marker)]
    if marked:
        config.hook.pytest_deselected(items=marked)
        items[:] = [item for item in items if not item.get_closest_marker(marker)]
