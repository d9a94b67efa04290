"""The start-up preflight: one line instead of Qt's SIGABRT when there is no display or the xcb libraries are missing.

The libraries are hidden without uninstalling anything: a copy of Qt's real xcb plugin whose
DT_NEEDED names are edited to sonames no system has, put where Qt looks for platform plugins
(QT_QPA_PLATFORM_PLUGIN_PATH). Real `ldd`, real Qt plugin loading rules: without the preflight
the same process aborts in QApplication.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mri_denoise_gui import preflight

HIDDEN = {b"libxcb-icccm.so.4\0": b"libxcb-icccm.so.7\0", b"libxcb-keysyms.so.1\0": b"libxcb-keysyms.so.7\0"}


def _real_plugin() -> Path:
    plugin = preflight.xcb_plugin({})
    if plugin is None:
        pytest.skip("PyQt6 has no xcb platform plugin here")
    return plugin


@pytest.fixture
def plugin_dir_without_libs(tmp_path) -> Path:
    """plugins/platforms/libqxcb.so needing two absent libraries; ../../lib leads to the real Qt libraries."""
    real = _real_plugin()
    if not shutil.which("ldd"):
        pytest.skip("no ldd")
    data = real.read_bytes()
    for old, new in HIDDEN.items():
        if old not in data:
            pytest.skip(f"this Qt's xcb plugin does not link {old[:-1].decode()} itself")
        data = data.replace(old, new)
    platforms = tmp_path / "plugins" / "platforms"
    platforms.mkdir(parents=True)
    (platforms / "libqxcb.so").write_bytes(data)
    (tmp_path / "lib").symlink_to(real.parent.parent.parent / "lib")  # the plugin's RUNPATH is $ORIGIN/../../lib
    return platforms


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "QT_QPA_PLATFORM_PLUGIN_PATH")}
    return dict(env, **extra)


def test_app_says_which_libraries_to_install_instead_of_aborting(plugin_dir_without_libs, tmp_path):
    code = ("import sys; from mri_denoise_gui.app import main; rc = main(['--demo']);"
            "assert not any(m.startswith('PyQt6') for m in sys.modules), 'Qt was imported'; sys.exit(rc)")
    env = _env(DISPLAY=":93", QT_QPA_PLATFORM_PLUGIN_PATH=str(plugin_dir_without_libs), HOME=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])  # not -6 (SIGABRT)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert "libxcb-icccm.so.7" in line and "libxcb-keysyms.so.7" in line
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1" in line
    assert "sudo dnf install xcb-util-wm xcb-util-keysyms" in line
    assert "qt.qpa" not in proc.stderr and "Traceback" not in proc.stderr


def test_ldd_of_the_edited_plugin_lists_exactly_the_hidden_libraries(plugin_dir_without_libs):
    missing = preflight.ldd_missing(plugin_dir_without_libs / "libqxcb.so")
    assert {"libxcb-icccm.so.7", "libxcb-keysyms.so.7"} <= set(missing)
    assert not any(name.startswith("libQt6") for name in missing)  # the RUNPATH still finds Qt's own


def test_without_ldd_the_loader_is_asked_for_the_known_list():
    import ctypes

    hidden = {"libxcb-cursor.so.0", "libxcb-icccm.so.4"}

    def load(name):
        if name in hidden:
            raise OSError(f"{name}: cannot open shared object file")
        return ctypes.CDLL(name)

    real = set(preflight.dlopen_missing())
    found = preflight.missing_xcb_libraries(_real_plugin(), ldd="/nonexistent/ldd", load=load)
    assert set(found) == hidden | real
    assert preflight.install_hint(found).startswith("Debian/Ubuntu: sudo apt-get install libxcb-cursor0 libxcb-icccm4")


def test_libxcb_cursor_is_probed_even_when_ldd_does_not_list_it(plugin_dir_without_libs):
    found = preflight.missing_xcb_libraries(plugin_dir_without_libs / "libqxcb.so",
                                            load=lambda name: (_ for _ in ()).throw(OSError(name)))
    assert "libxcb-cursor.so.0" in found and "libxcb-keysyms.so.7" in found


def _never(plugin):
    raise AssertionError("the library check ran")


def missing_two(plugin):
    return ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]


@pytest.mark.parametrize("env, platform", [
    ({"QT_QPA_PLATFORM": "offscreen"}, "linux"),
    ({"QT_QPA_PLATFORM": "minimal"}, "linux"),
    ({"QT_QPA_PLATFORM": "offscreen;xcb", "DISPLAY": ":0"}, "linux"),
    ({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}, "linux"),
    ({"QT_QPA_PLATFORM": "wayland", "WAYLAND_DISPLAY": "wayland-0"}, "linux"),
    ({}, "darwin"),
    ({}, "win32"),
    ({"DISPLAY": ":0", preflight.SKIP_ENV: "1"}, "linux"),
])
def test_no_check_where_qt_needs_no_xcb(env, platform):
    assert preflight.check(env, platform, plugin=lambda: None, missing=_never) is None


def test_no_display_is_one_line_that_points_to_headless_use():
    for env in ({}, {"QT_QPA_PLATFORM": "xcb"}, {"QT_QPA_PLATFORM": "xcb", "WAYLAND_DISPLAY": "wayland-0"}):
        message = preflight.check(env, "linux", plugin=lambda: None, missing=_never)
        assert message.startswith("mri-denoise-gui: error: no display found") and "\n" not in message
        assert "--screenshot" in message and "mri-denoise`" in message and "xvfb-run" in message


def test_missing_libraries_on_x11_name_them_and_both_install_commands():
    for env in ({"DISPLAY": ":0"}, {"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb"},
                {"DISPLAY": ":0", "WAYLAND_DISPLAY": "w", "QT_QPA_PLATFORM": "xcb:nograb"}):
        message = preflight.check(env, "linux", plugin=lambda: None, missing=missing_two, reachable=_never)
        assert "\n" not in message
        assert "libxcb-icccm.so.4, libxcb-keysyms.so.1" in message
        assert "apt-get install libxcb-icccm4 libxcb-keysyms1" in message
        assert "dnf install xcb-util-wm xcb-util-keysyms" in message
    everything_there = dict(plugin=lambda: None, missing=lambda p: [], reachable=lambda display: True)
    assert preflight.check({"DISPLAY": ":0"}, "linux", **everything_there) is None


def test_a_display_nobody_answers_on_is_one_line_too(tmp_path):
    """A stale DISPLAY (ssh without X forwarding, a stopped Xvfb): Qt aborts (exit 134) without the preflight."""
    display = ":64999"  # no X server listens there (a real libxcb connection attempt)
    assert not preflight.x_server_reachable(display)
    message = preflight.check({"DISPLAY": display}, "linux", plugin=lambda: None, missing=lambda p: [])
    assert message.startswith(f"mri-denoise-gui: error: cannot connect to the X server at DISPLAY={display}")
    assert "\n" not in message and "--screenshot" in message
    # the real app says the same; on a machine that also lacks Qt's xcb libraries (before
    # .ci/x11_packages.sh), the libraries come first and are what it says
    expected = preflight.check(_env(DISPLAY=display), "linux")
    assert expected is not None and "\n" not in expected
    if not preflight.missing_xcb_libraries():
        assert expected == message
    proc = subprocess.run([sys.executable, "-m", "mri_denoise_gui", "--demo"], env=_env(DISPLAY=display,
                          HOME=str(tmp_path)), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip() == expected, proc.stderr[-2000:]


def test_every_library_of_the_known_list_has_packages_and_unknown_ones_still_read():
    assert all(preflight.stem(name) in preflight.XCB_PACKAGES for name in preflight.XCB_SONAMES)
    assert preflight.install_hint(["libfoo.so.3"]) == "install the packages that provide them"
    hint = preflight.install_hint(["libxcb-shm.so.0", "libxcb-sync.so.1", "libfoo.so.3"])
    assert hint == "Debian/Ubuntu: sudo apt-get install libxcb-shm0 libxcb-sync1; Fedora: sudo dnf install libxcb"


def test_ci_installs_every_debian_package_the_preflight_can_ask_for():
    import re

    script = (Path(__file__).resolve().parents[2] / ".ci" / "x11_packages.sh").read_text()
    listed = set(re.search(r'PACKAGES="([^"]*)"', script).group(1).split())
    assert {debian for debian, _ in preflight.XCB_PACKAGES.values()} <= listed
    assert {"xvfb", "xauth"} <= listed
