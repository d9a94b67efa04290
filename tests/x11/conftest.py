"""The real-X11 smoke suite: run under Xvfb on Qt's xcb platform (`make test` does, with xvfb-run).

Everything else in tests/ runs offscreen, where a broken xcb path (a missing system library, a
window that never maps) goes unnoticed. One Qt process has one platform, so this folder runs in
its own pytest process with QT_QPA_PLATFORM=xcb; anywhere else (no xvfb-run, no display, the
xcb libraries missing, or the offscreen run) its tests are skipped and the reason says why.
"""

from __future__ import annotations

import os

import pytest

from mri_denoise_gui import preflight
from tests.qt.conftest import settings  # noqa: F401  (a private QSettings file per test)

SKIP_ENV = "X11_SMOKE_SKIP"  # set by the Makefile when xvfb-run is not installed


def skip_reason() -> str | None:
    if os.environ.get(SKIP_ENV):
        return os.environ[SKIP_ENV]
    if os.environ.get("QT_QPA_PLATFORM") != "xcb":
        return "needs QT_QPA_PLATFORM=xcb and an X server (make test runs tests/x11 under xvfb-run)"
    return preflight.check()


def pytest_collection_modifyitems(config, items):
    reason = skip_reason()
    if reason:
        marker = pytest.mark.skip(reason=f"real-X11 smoke suite: {reason}")
        here = os.path.dirname(__file__)
        for item in items:
            if str(item.path).startswith(here):
                item.add_marker(marker)

