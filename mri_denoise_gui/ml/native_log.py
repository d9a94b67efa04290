"""Keep TensorFlow's and LiteRT's start-up chatter out of the app's output, and nothing else.

Why: on a machine without an NVIDIA driver, TensorFlow's CUDA platform logs "failed call to
cuInit" as an error on every start, and the lines it prints before absl logging is initialised
ignore TF_CPP_MIN_LOG_LEVEL. Raising TF_CPP_MIN_LOG_LEVEL to 3 would hide real errors and hiding
the CUDA devices would break the GPU path, so instead the C-level stderr (fd 2) of the few calls
that print them (TensorFlow's import and device set-up, LiteRT's first run) goes to a temporary
file, and every line except the known-harmless ones is written back to stderr when the call ends.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from pathlib import Path

_INFO_LINE = re.compile(r"^I\d{4} ")  # absl INFO: "I0000 00:00:... file.cc:NN] ..."
_INFO_TEXTS = ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
               "To enable the following instructions:",
               "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.")

_lock = threading.Lock()
_depth = 0
_saved_fd: int | None = None
_capture = None


def nvidia_driver_present() -> bool:
    """True when an NVIDIA kernel driver is loaded: then a cuInit failure is news, not noise."""
    return Path("/dev/nvidiactl").exists() or Path("/proc/driver/nvidia").exists()


def is_noise(line: str, min_log_level: int | None = None, driver: bool | None = None) -> bool:
    """Whether ``line`` is start-up chatter the user has no use for (see the module docstring)."""
    if min_log_level is None:
        try:
            min_log_level = int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
        except ValueError:
            min_log_level = 0
    if "failed call to cuInit" in line:
        return not (nvidia_driver_present() if driver is None else driver)
    if min_log_level >= 1:  # the user asked for no INFO lines; these come before absl honours that
        return bool(_INFO_LINE.match(line)) or line.startswith(_INFO_TEXTS)
    return False


@contextlib.contextmanager
def quiet_native_stderr():
    """Within this block, fd 2 is captured; the lines that are not noise are replayed after it.

    Re-entrant and thread-safe: nested or concurrent blocks share one capture, replayed when the
    last one ends. Python's own ``sys.stderr`` is flushed on the way in and out, so order is kept.
    """
    global _depth, _saved_fd, _capture
    with _lock:
        if _depth == 0:
            try:
                sys.stderr.flush()
                _capture = tempfile.TemporaryFile(mode="w+b")
                _saved_fd = os.dup(2)
                os.dup2(_capture.fileno(), 2)
            except (OSError, ValueError, AttributeError):  # no fd 2 (pythonw): nothing to quiet
                _capture, _saved_fd = None, None
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved_fd is not None:
                _restore()


def _restore() -> None:
    global _saved_fd, _capture
    try:
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass
    os.dup2(_saved_fd, 2)
    os.close(_saved_fd)
    _saved_fd = None
    _capture.seek(0)
    text = _capture.read().decode("utf-8", errors="replace")
    _capture.close()
    _capture = None
    kept = [line for line in text.splitlines(keepends=True) if not is_noise(line)]
    if kept:
        os.write(2, "".join(kept).encode())
