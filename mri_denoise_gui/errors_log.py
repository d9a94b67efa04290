"""One line for a person, the traceback in a log file: how any front end reports an exception.

Errors the app raises on purpose (a bad file, a bad model, bad settings) already carry a
one-line reason. Anything else is a bug: the person gets one line naming the log file, and the
traceback goes there, not to stderr. No Qt and no TensorFlow here, so the CLI can use it too.
"""

from __future__ import annotations

import datetime as _dt
import os
import sys
import traceback
from pathlib import Path

from mri_denoise_gui.core.errors import first_line

# Matched by class name so this module needs neither ml (nor TensorFlow) nor the rest of core imported.
EXPECTED = {"VolumeError", "ModelError", "NoiseError", "UserError", "TrainingError", "ConfigError",
            "CommandError", "LoadCancelled", "Cancelled"}
LOG_NAME = "errors.log"
MAX_LOG_BYTES = 1 * 2**20  # the log is restarted beyond this: it never grows without bound


def log_dir() -> Path:
    """`$MRI_DENOISE_LOG_DIR`, else the platform's per-user state / log folder."""
    override = os.environ.get("MRI_DENOISE_LOG_DIR")
    if override:
        return Path(override)
    home = Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "Logs" / "mri-denoise-gui"
    if sys.platform.startswith("win"):
        return Path(os.environ.get("LOCALAPPDATA", home)) / "mri-denoise-gui" / "Logs"
    return Path(os.environ.get("XDG_STATE_HOME") or home / ".local" / "state") / "mri-denoise-gui"


def is_expected(exc: BaseException) -> bool:
    """Raised on purpose with a message for a person (an OSError names its file and cause)."""
    return any(k.__name__ in EXPECTED for k in type(exc).__mro__) or (
        isinstance(exc, OSError) and bool(str(exc).strip()))


def write_log(details: str, context: str = "") -> Path | None:
    """Append a dated entry to the log; the log's path, or None when it cannot be written."""
    path = log_dir() / LOG_NAME
    stamp = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = "w" if path.exists() and path.stat().st_size > MAX_LOG_BYTES else "a"
        with open(path, mode, encoding="utf-8") as fh:
            fh.write(f"--- {stamp} {context}\n{details.rstrip()}\n")
    except OSError:
        return None
    return path


def describe(exc: BaseException, context: str = "") -> tuple[str, str]:
    """(one-line reason, traceback). Unexpected errors are logged and the reason names the log."""
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    text, name = (first_line(exc) if str(exc).strip() else ""), type(exc).__name__
    if is_expected(exc):
        return (text or name), details
    reason = f"{name}: {text}" if text else name
    logged = write_log(details, context)
    where = f"details in {logged}" if logged is not None else "the log could not be written"
    return f"unexpected error ({reason}); {where}", details
