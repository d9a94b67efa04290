"""argparse value types shared by cli.py and cli_ml.py: a bad value is a one-line usage error."""

from __future__ import annotations

import argparse
import math


def _number(text: str, kind: type):
    try:
        return kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None


def int_at_least(minimum: int):
    def parse(text: str) -> int:
        value = _number(text, int)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {text}")
        return value

    parse.__name__ = f"int>={minimum}"
    return parse


def float_in(low: float, high: float = math.inf, name: str = "value"):
    """A finite float in [low, high) (or [low, inf) when high is not given)."""

    def parse(text: str) -> float:
        value = _number(text, float)
        if not math.isfinite(value) or value < low or value >= high:
            bound = f"a number >= {low:g}" if math.isinf(high) else f"in [{low:g}, {high:g})"
            raise argparse.ArgumentTypeError(f"{name} must be {bound}, got {text}")
        return value

    parse.__name__ = name
    return parse


nonneg_int = int_at_least(0)
positive_int = int_at_least(1)
