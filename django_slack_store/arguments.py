"""The checks of plain arguments and settings that several places make, each written once.

A wrong type raises `TypeError`, a value of the right type that is out of range raises `ValueError`, both
naming the argument.
"""

from __future__ import annotations

from typing import TypeGuard

__all__ = ["check_int", "is_history_keep", "is_int"]


def is_int(value: object) -> TypeGuard[int]:
    """An int, and not a bool (which Python counts as one)."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_int(name: str, value: object, minimum: int, maximum: int | None = None) -> int:
    """`value`, when it is an int from `minimum` to `maximum` (inclusive; None: no maximum)."""
    if not is_int(value):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise ValueError(f"{name} must be an int {bounds}, not {value!r}")
    return value


def is_history_keep(value: object) -> bool:
    """What HISTORY_KEEP and `--keep` accept: None (keep everything) or an int >= 0 (rows to keep)."""
    return value is None or (is_int(value) and value >= 0)
