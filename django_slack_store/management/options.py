"""Argument types the management commands share."""

import argparse


def batch_size(text: str) -> int:
    """`--batch-size`: rows per transaction (or query), an int of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an int, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
