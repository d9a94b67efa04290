"""argparse value types shared by cli.py and cli_ml.py (a bad value is a one-line usage error),
and the pieces of main()'s error report: one line per error, a log file for the traceback."""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
import traceback
from pathlib import Path

from mri_denoise_gui.core.errors import first_line


class OneLineParser(argparse.ArgumentParser):
    """A usage error is one line too (the full usage stays behind --help); subparsers inherit it."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


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


def strength_value(text: str) -> float:
    """A denoising strength (``ml/strength.py``): a number inside STRENGTH_RANGE."""
    from mri_denoise_gui.ml.strength import check_strength  # TF-free
    from mri_denoise_gui.ml.training_choices import STRENGTH_RANGE

    try:
        return check_strength(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number from {STRENGTH_RANGE[0]:g} to "
                                         f"{STRENGTH_RANGE[1]:g}, got {text}") from None


nonneg_int = int_at_least(0)
positive_int = int_at_least(1)


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message; an OSError as `file: reason`."""
    if isinstance(exc, OSError) and exc.strerror:
        name = exc.filename if exc.filename is not None else ""
        return f"{name}: {exc.strerror}" if name else exc.strerror
    return first_line(exc, limit=1000)


def crash_log(command: str, argv) -> Path | None:
    """Write the current exception's traceback to a new log file in the temp folder; its path."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    try:
        fd, name = tempfile.mkstemp(prefix=f"mri-denoise-{command}-{stamp}-", suffix=".log")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(f"mri-denoise {' '.join(str(a) for a in argv)}\n\n")
            fh.write(traceback.format_exc())
    except OSError:
        return None
    return Path(name)
