"""Checks run before Qt is imported, so a desktop that cannot show the window gets one line, not SIGABRT.

Without a display, or with Qt's X11 (xcb) platform plugin missing system libraries, creating the
QApplication aborts the whole process ("Could not load the Qt platform plugin "xcb"") and may dump
core; so does a DISPLAY whose X server cannot be reached. `check()` finds these cheaply (no Qt
import; one `ldd` of the plugin, ~20 ms, and one X connection) and
returns the message to print instead; `mri_denoise_gui.app.main` calls it, so `make run`, the
installed `mri-denoise-gui` and the frozen app all get it. Every probe is a parameter, so the
tests can hide libraries without uninstalling anything.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

PROG = "mri-denoise-gui"
SKIP_ENV = "MRI_DENOISE_GUI_NO_PREFLIGHT"  # escape hatch should a check ever be wrong on some system
HEADLESS = ("headless: QT_QPA_PLATFORM=offscreen mri-denoise-gui --demo --screenshot out.png, "
            "or the command line `mri-denoise`")

# What Qt 6's xcb plugin links against (`ldd libqxcb.so`), keyed by the name before ".so", with the
# package that ships it on Debian/Ubuntu and on Fedora. Keyed by stem so a Qt built against another
# soversion still gets a package name.
XCB_PACKAGES: dict[str, tuple[str, str]] = {
    "libxcb-cursor": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-keysyms": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-image": ("libxcb-image0", "xcb-util-image"),
    "libxcb-render-util": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-util": ("libxcb-util1", "xcb-util"),
    "libxcb": ("libxcb1", "libxcb"),
    "libxcb-randr": ("libxcb-randr0", "libxcb"),
    "libxcb-render": ("libxcb-render0", "libxcb"),
    "libxcb-shape": ("libxcb-shape0", "libxcb"),
    "libxcb-shm": ("libxcb-shm0", "libxcb"),
    "libxcb-sync": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes": ("libxcb-xfixes0", "libxcb"),
    "libxcb-xkb": ("libxcb-xkb1", "libxcb"),
    "libxkbcommon": ("libxkbcommon0", "libxkbcommon"),
    "libxkbcommon-x11": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libX11": ("libx11-6", "libX11"),
    "libX11-xcb": ("libx11-xcb1", "libX11-xcb"),
    "libGL": ("libgl1", "libglvnd-glx"),
    "libEGL": ("libegl1", "libglvnd-egl"),
    "libfontconfig": ("libfontconfig1", "fontconfig"),
    "libfreetype": ("libfreetype6", "freetype"),
    "libglib-2.0": ("libglib2.0-0", "glib2"),
    "libgthread-2.0": ("libglib2.0-0", "glib2"),
    "libdbus-1": ("libdbus-1-3", "dbus-libs"),
}
# Loaded with ctypes when ldd cannot be used (no ldd, or the plugin not found); libxcb-cursor is
# also probed after ldd, because some Qt 6 builds dlopen it instead of linking it.
XCB_SONAMES = (
    "libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-image.so.0",
    "libxcb-render-util.so.0", "libxcb-util.so.1", "libxcb-randr.so.0", "libxcb-shape.so.0",
    "libxcb-xkb.so.1", "libxkbcommon-x11.so.0", "libxkbcommon.so.0", "libX11-xcb.so.1",
)
_NOT_FOUND = re.compile(r"^\s*(\S+)\s*=>\s*not found", re.MULTILINE)


def stem(soname: str) -> str:
    return soname.split(".so", 1)[0]


def _platforms(env: Mapping[str, str]) -> list[str]:
    """QT_QPA_PLATFORM as Qt reads it: 'wayland;xcb' is a fallback list, 'xcb:opt' carries options."""
    value = env.get("QT_QPA_PLATFORM", "")
    return [p.split(":", 1)[0].strip().lower() for p in value.split(";") if p.strip()]


def xcb_plugin(env: Mapping[str, str] | None = None) -> Path | None:
    """libqxcb.so where Qt will look for it: QT_QPA_PLATFORM_PLUGIN_PATH, the PyQt6 package, a frozen bundle."""
    env = os.environ if env is None else env
    folders = []
    if env.get("QT_QPA_PLATFORM_PLUGIN_PATH"):
        folders += [Path(p) for p in env["QT_QPA_PLATFORM_PLUGIN_PATH"].split(os.pathsep) if p]
    try:
        spec = importlib.util.find_spec("PyQt6")  # locates the package without importing it
    except (ImportError, ValueError):
        spec = None
    roots = list(spec.submodule_search_locations or []) if spec else []
    if getattr(sys, "_MEIPASS", None):
        roots.append(os.path.join(sys._MEIPASS, "PyQt6"))
    folders += [Path(r) / "Qt6" / "plugins" / "platforms" for r in roots]
    for folder in folders:
        if (folder / "libqxcb.so").is_file():
            return folder / "libqxcb.so"
    return None


def ldd_missing(plugin: Path, ldd: str | None = None, env: Mapping[str, str] | None = None) -> list[str] | None:
    """Sonames that the dynamic loader cannot find for `plugin` (transitively), or None if ldd can't tell.

    It runs in this process's environment, so a frozen app's LD_LIBRARY_PATH (its bundled libraries) counts.
    """
    ldd = ldd or shutil.which("ldd")
    if not ldd:
        return None
    try:
        out = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=20,
                             env=None if env is None else dict(env)).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    if "=>" not in out:  # not a dynamic ELF ldd could read
        return None
    return list(dict.fromkeys(_NOT_FOUND.findall(out)))


def dlopen_missing(sonames=XCB_SONAMES, load: Callable[[str], object] | None = None) -> list[str]:
    """The sonames the dynamic loader refuses to load (same search path as the plugin's)."""
    if load is None:
        import ctypes

        load = ctypes.CDLL
    missing = []
    for name in sonames:
        try:
            load(name)
        except OSError:
            missing.append(name)
    return missing


def missing_xcb_libraries(plugin: Path | None = None, ldd: str | None = None,
                          load: Callable[[str], object] | None = None) -> list[str]:
    """System libraries Qt's xcb plugin needs and this machine lacks (empty when it can load)."""
    found = ldd_missing(plugin, ldd) if plugin is not None else None
    if found is None:
        return dlopen_missing(load=load)
    if not any(stem(n) == "libxcb-cursor" for n in found):
        found += dlopen_missing(("libxcb-cursor.so.0",), load)
    return found


def x_server_reachable(display: str) -> bool:
    """Whether libxcb can connect to DISPLAY as Qt will (a stale DISPLAY, e.g. over ssh, aborts Qt too)."""
    import ctypes

    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return True  # cannot tell; the library check names libxcb if it is missing
    xcb.xcb_connect.restype, xcb.xcb_connect.argtypes = ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    connection = xcb.xcb_connect(display.encode(), None)  # never NULL: an error object at worst
    try:
        return xcb.xcb_connection_has_error(connection) == 0
    finally:
        xcb.xcb_disconnect(connection)


def install_hint(sonames: list[str]) -> str:
    """'Debian/Ubuntu: sudo apt-get install ...; Fedora: sudo dnf install ...' for these sonames."""
    known = [XCB_PACKAGES[stem(n)] for n in sonames if stem(n) in XCB_PACKAGES]
    if not known:
        return "install the packages that provide them"
    debian = " ".join(dict.fromkeys(d for d, _ in known))
    fedora = " ".join(dict.fromkeys(f for _, f in known))
    return f"Debian/Ubuntu: sudo apt-get install {debian}; Fedora: sudo dnf install {fedora}"


def check(env: Mapping[str, str] | None = None, platform: str | None = None,
          plugin: Callable[[], Path | None] | None = None,
          missing: Callable[[Path | None], list[str]] = missing_xcb_libraries,
          reachable: Callable[[str], bool] = x_server_reachable) -> str | None:
    """The one-line reason the window cannot open here, or None when Qt should manage (or it is not ours to say)."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux") or env.get(SKIP_ENV):
        return None
    wanted = _platforms(env)
    first = wanted[0] if wanted else ""
    if first and first != "xcb" and not first.startswith("wayland"):
        return None  # offscreen, minimal, vnc, eglfs ...: Qt needs no window system
    x11, wayland = bool(env.get("DISPLAY")), bool(env.get("WAYLAND_DISPLAY"))
    if not (x11 or (wayland and first != "xcb")):
        unset = "QT_QPA_PLATFORM=xcb and DISPLAY is not set" if wayland else "DISPLAY / WAYLAND_DISPLAY are not set"
        return f"{PROG}: error: no display found ({unset}). Run it on a desktop or under xvfb-run; {HEADLESS}."
    if (wayland and first != "xcb") or (first.startswith("wayland") and "xcb" not in wanted):
        return None  # Qt takes Wayland (falling back to xcb on its own): not ours to judge
    found = missing((plugin or (lambda: xcb_plugin(env)))())
    if found:
        return (f"{PROG}: error: Qt's X11 (xcb) platform plugin needs system libraries that are not installed: "
                f"{', '.join(found)}. {install_hint(found)}. Or {HEADLESS}.")
    if not reachable(env["DISPLAY"]):
        return (f"{PROG}: error: cannot connect to the X server at DISPLAY={env['DISPLAY']} (not running, or this "
                f"user may not use it: XAUTHORITY, xhost). Run it on a desktop or under xvfb-run; {HEADLESS}.")
    return None
