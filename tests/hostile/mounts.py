"""Real read-only and full file systems for the hostile tests: a small tmpfs mounted for the test.

Why a mount and not chmod: root writes into a mode-555 folder, and CI runs as root; a read-only
or full file system refuses everyone. Needs permission to mount (root, or a container that
allows it); the test is skipped with the reason otherwise.
"""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

import pytest


@contextlib.contextmanager
def tmpfs(where: Path, options: str):
    """``where`` (created) as a tmpfs mounted with ``options`` (e.g. "ro,size=64k"), for the block."""
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip() or 'not root'})")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)
