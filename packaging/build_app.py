"""Build the one-folder desktop app with PyInstaller, then smoke-test what was built.

    python packaging/build_app.py              # build into dist/app/mri-denoise-gui/ and test it
    python packaging/build_app.py --test-only  # only test an existing build

`make app` installs PyInstaller into .venv and runs this. The result is a folder that runs on
machines without Python: dist/app/mri-denoise-gui/mri-denoise-gui (the GUI) and .../mri-denoise
(the command line), with TensorFlow, Qt and the bundled resources in .../_internal/.

Smoke tests (all run from a temporary working directory, offscreen, with a clean environment):
  1. the bundled resources (demo volume, icons, models folder) are in the folder
  2. `mri-denoise --version` and `mri-denoise info <bundled demo volume>`
  3. TensorFlow + Keras work frozen: `mri-denoise denoise` on the demo volume with the shipped
     default model, or, if none is bundled yet, with a tiny untrained model made for the test
  4. the GUI: without a display it ends with the preflight's one line (exit 2, no abort); which of
     the xcb plugin's X11 libraries are bundled, and whether the bundled plugin loads here;
     `mri-denoise-gui --demo --screenshot shot.png` (offscreen, then on xcb under xvfb-run when
     it is installed) writes a PNG; with the
     tiny test model (`--model`) when no default model is bundled, so the GUI's inference worker
     runs TensorFlow inside the frozen app too. The screenshot is kept as dist/app-screenshot.png.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "packaging" / "mri-denoise-gui.spec"
DIST = ROOT / "dist" / "app"
WORK = ROOT / "build" / "pyinstaller"
APP = DIST / "mri-denoise-gui"
GUI_EXE = APP / "mri-denoise-gui"
CLI_EXE = APP / "mri-denoise"
INTERNAL = APP / "_internal"
RESOURCES = INTERNAL / "mri_denoise_gui" / "resources"


class SmokeFailure(Exception):
    pass


def build() -> None:
    cmd = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean",
           "--distpath", str(DIST), "--workpath", str(WORK), str(SPEC)]
    print("+", " ".join(cmd), flush=True)
    start = time.monotonic()
    subprocess.run(cmd, cwd=ROOT, check=True)
    print(f"built {APP} in {time.monotonic() - start:.0f} s", flush=True)


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(QT_QPA_PLATFORM="offscreen", TF_CPP_MIN_LOG_LEVEL="2", PYTHONNOUSERSITE="1")
    return env


def run(cmd: list, cwd: Path, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    start = time.monotonic()
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env or _env(), capture_output=True, text=True,
                          timeout=timeout)
    out = (proc.stdout + proc.stderr).strip()
    print("  " + "\n  ".join(out.splitlines()[-15:]) if out else "  (no output)")
    print(f"  -> exit {proc.returncode} in {time.monotonic() - start:.1f} s", flush=True)
    return proc


def check(cond: bool, message: str) -> None:
    if not cond:
        raise SmokeFailure(message)
    print(f"  ok: {message}", flush=True)


def _tiny_model(folder: Path) -> Path | None:
    """An untrained tiny model made with the build's own Python (not the frozen app)."""
    code = (
        "import sys\n"
        "from mri_denoise_gui.ml.architectures import build, stride\n"
        "from mri_denoise_gui.ml.modelfile import save_model_folder\n"
        "meta = {'name': 'tiny-smoke-test', 'architecture': 'tiny', 'architecture_options': {},\n"
        "        'stride': stride('tiny'), 'normalizer': {'method': 'percentile', 'low': 0.5, 'high': 99.5}}\n"
        "save_model_folder(build('tiny'), sys.argv[1], meta)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(folder)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, timeout=600)
    if proc.returncode != 0:
        print("  could not make a tiny test model:", (proc.stderr.strip().splitlines() or ["?"])[-1])
        return None
    return folder


def _check_xcb_libraries() -> None:
    """Which of the X11 libraries Qt's xcb plugin needs were bundled; the rest must come from the system.

    PyInstaller bundles what the build machine has (`.ci/x11_packages.sh` installs them all on
    Debian/Ubuntu); what it lacked is named here, and on a user's machine the frozen GUI's preflight
    names what is missing there (with the apt-get / dnf command) instead of aborting.
    """
    from mri_denoise_gui import preflight

    bundled = sorted(n for n in preflight.XCB_SONAMES if (INTERNAL / n).exists())
    print(f"  xcb libraries bundled: {', '.join(bundled) or 'none'}")
    not_bundled = [n for n in preflight.XCB_SONAMES if n not in bundled]
    if not_bundled:
        print(f"  not bundled (the system must provide them; {preflight.install_hint(not_bundled)}): "
              f"{', '.join(not_bundled)}")
    plugin = next(iter(INTERNAL.glob("PyQt6/Qt6/plugins/platforms/libqxcb.so")), None)
    if plugin is not None:  # as the bootloader runs the app: its own folder first on the library path
        paths = [str(INTERNAL), os.environ.get("LD_LIBRARY_PATH", "")]
        env = dict(os.environ, LD_LIBRARY_PATH=os.pathsep.join(p for p in paths if p))
        missing = preflight.ldd_missing(plugin, env=env)
        if missing:
            print(f"  WARNING: the bundled xcb plugin cannot load on this machine, missing {', '.join(missing)}")


def smoke_test() -> list[str]:
    """Run the smoke tests; returns the names of the tests that were skipped."""
    skipped = []
    check(GUI_EXE.is_file() and os.access(GUI_EXE, os.X_OK), f"{GUI_EXE.relative_to(ROOT)} is an executable")
    check(CLI_EXE.is_file() and os.access(CLI_EXE, os.X_OK), f"{CLI_EXE.relative_to(ROOT)} is an executable")
    demo = RESOURCES / "demo" / "mni152_t1_demo.nii.gz"
    check(demo.is_file(), "the demo volume is bundled")
    check((RESOURCES / "icons" / "mri-denoise-gui.svg").is_file(), "the icons are bundled")
    for plugin in ("platforms/libqoffscreen.so", "platforms/libqxcb.so", "imageformats/libqsvg.so",
                   "iconengines/libqsvgicon.so"):
        found = list(INTERNAL.glob(f"PyQt6/Qt6/plugins/{plugin}"))
        check(bool(found), f"Qt plugin {plugin} is bundled")
    _check_xcb_libraries()
    models = RESOURCES / "models"
    default_model = models / "default"
    bundled = sorted(p.name for p in models.glob("*") if (p / "model.keras").is_file()) if models.is_dir() else []
    print(f"  bundled models: {bundled or 'none'}")

    from mri_denoise_gui import __version__

    with tempfile.TemporaryDirectory(prefix="app-smoke-") as tmp:
        tmp = Path(tmp)
        proc = run([CLI_EXE, "--version"], tmp)
        check(proc.returncode == 0 and proc.stdout.strip() == f"mri-denoise-gui {__version__}",
              "mri-denoise --version")

        proc = run([CLI_EXE, "info", demo], tmp)
        check(proc.returncode == 0 and "153 x 189 x 159" in proc.stdout, "mri-denoise info on the bundled demo")

        model = default_model if (default_model / "model.keras").is_file() else _tiny_model(tmp / "tiny")
        if model is None:
            skipped.append("frozen TensorFlow denoise (no model)")
        else:
            out = tmp / "denoised.nii.gz"
            proc = run([CLI_EXE, "denoise", demo, out, "--model", model, "--quiet"], tmp, timeout=1800)
            check(proc.returncode == 0 and out.is_file() and out.stat().st_size > 10_000,
                  f"frozen TensorFlow/Keras denoised the demo volume with model {model.name!r}")

        env = {k: v for k, v in _env().items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
        proc = run([GUI_EXE, "--demo"], tmp, env=env)
        check(proc.returncode == 2 and "no display found" in proc.stderr and len(proc.stderr.splitlines()) == 1,
              "without a display the frozen GUI says so in one line (the preflight), no abort")

        proc = run([GUI_EXE, "--help"], tmp)
        if proc.returncode == 0 and "--screenshot" in proc.stdout:
            shot = tmp / "shot.png"
            cmd = [GUI_EXE, "--demo", "--screenshot", shot]
            if model is not None and model != default_model:
                cmd += ["--model", model]  # exercise the GUI's inference worker even without a shipped model
            proc = run(cmd, tmp, timeout=1800)
            check(proc.returncode == 0 and shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n",
                  "mri-denoise-gui --demo --screenshot wrote a PNG")
            keep = ROOT / "dist" / "app-screenshot.png"
            shutil.copyfile(shot, keep)
            print(f"  screenshot kept at {keep.relative_to(ROOT)}")
            if not _x11_screenshot(cmd[4:], tmp):
                skipped.append("GUI on X11 (no xvfb-run + xauth here)")
        else:
            skipped.append("GUI screenshot (this mri-denoise-gui has no --screenshot option)")
    return skipped


def _x11_screenshot(extra: list, tmp: Path) -> bool:
    """The same screenshot on Qt's xcb platform under Xvfb: the bundled xcb plugin loads (or the
    preflight's one line says which system libraries are missing). False if Xvfb is not there."""
    xvfb_run = shutil.which("xvfb-run")
    if not (xvfb_run and shutil.which("xauth")):
        return False
    shot = tmp / "shot-x11.png"
    env = dict(_env(), QT_QPA_PLATFORM="xcb")
    args = [xvfb_run, "-a", "-s", "-screen 0 1600x1000x24", GUI_EXE, "--demo", "--screenshot", shot, *extra]
    proc = run(args, tmp, timeout=1800, env=env)
    check(proc.returncode == 0 and shot.is_file() and "qt.qpa.plugin" not in proc.stderr,
          "mri-denoise-gui --demo --screenshot on X11 (xcb under Xvfb) wrote a PNG")
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="build and smoke-test the frozen app")
    ap.add_argument("--test-only", action="store_true", help="skip the build; test dist/app as it is")
    args = ap.parse_args(argv)
    if not args.test_only:
        build()
    size = sum(f.stat().st_size for f in APP.rglob("*") if f.is_file()) / 2**20
    print(f"\n== smoke tests of {APP.relative_to(ROOT)} ({size:.0f} MiB)", flush=True)
    try:
        skipped = smoke_test()
    except (SmokeFailure, subprocess.TimeoutExpired) as exc:
        print(f"build_app: FAIL: {exc}", file=sys.stderr)
        return 1
    for name in skipped:
        print(f"  skipped: {name}")
    print(f"build_app: OK: {APP.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
