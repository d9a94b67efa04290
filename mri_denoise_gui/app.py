"""`mri-denoise-gui`: start the desktop application.

The window is shown before TensorFlow is imported: the default model is loaded by the
inference worker once the event loop runs. `--screenshot PNG` waits for the first denoised
slice, saves the window and exits 0, which is how the README's screenshots are made (it works
with QT_QPA_PLATFORM=offscreen).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

_T0 = time.perf_counter()

# Spelled out (checked against core by a test) so that --help needs neither numpy nor scikit-image.
AXES = ("axial", "coronal", "sagittal")
KINDS = ("gaussian", "localvar", "rician", "speckle", "poisson")
VARIANCE_MAX = 0.25  # viewer.state.VARIANCE_MAX, the noise panel's maximum


def _variance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= VARIANCE_MAX:  # also refuses nan
        raise argparse.ArgumentTypeError(f"variance must be in [0, {VARIANCE_MAX:g}], got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from mri_denoise_gui.cli_args import strength_value  # imports numpy only when --strength is given

    p = argparse.ArgumentParser(
        prog="mri-denoise-gui",
        description="Add realistic noise to MRI volumes, denoise them with a CNN and compare, side by side.",
    )
    p.add_argument("file", nargs="?", metavar="FILE", help="NIfTI volume to open (.nii / .nii.gz)")
    p.add_argument("--demo", action="store_true", help="open the bundled demo volume")
    p.add_argument("--noisy-scan", action="store_true",
                   help="open FILE as a real noisy scan (no ground truth) instead of a clean volume")
    p.add_argument("--volume-index", type=int, default=None, metavar="I", help="volume of a 4D file (default: ask)")
    p.add_argument("--model", metavar="DIR", help="model folder to load (default: the bundled default model)")
    p.add_argument("--noise-kind", choices=KINDS, help="kind of synthetic noise")
    p.add_argument("--variance", type=_variance, metavar="V",
                   help=f"noise variance on the [0, 1] image (0 to {VARIANCE_MAX:g})")
    p.add_argument("--seed", type=int, metavar="S", help="noise seed")
    p.add_argument("--axis", choices=AXES, help="view axis")
    p.add_argument("--slice", type=int, metavar="N", help="slice index to show")
    p.add_argument("--residual", action="store_true", help="show the residual pane")
    p.add_argument("--strength", type=strength_value, metavar="S",
                   help="denoising strength for this run, 0.25-4 (1 = as trained; the Model panel's box)")
    p.add_argument("--compare", action="append", default=[], metavar="METHOD",
                   help="add a comparison pane: nlm, wavelet, tv, bm3d, network, or a model folder (repeatable)")
    p.add_argument("--error-map", action="store_true", help="show the error map |denoised - truth|")
    p.add_argument("--screenshot", metavar="PNG",
                   help="save the window as PNG once the first denoised slice is shown, then exit "
                        "(settings are not saved)")
    p.add_argument("--screenshot-timeout", type=float, default=180.0, metavar="SEC", help=argparse.SUPPRESS)
    p.add_argument("--size", default=None, metavar="WxH", help="window size, e.g. 1280x800")
    return p


def _warm_up_imports(window=None) -> None:
    """Import scipy-heavy core.metrics in the background so the first slice's SSIM is quick.

    With a window: once its first denoised slice is shown (or after 3 s), so that the import,
    which holds the GIL, does not delay that slice."""
    import threading

    if window is not None:
        from PyQt6.QtCore import QTimer

        started = []

        def once() -> None:
            if not started:
                started.append(1)
                _warm_up_imports()

        window.firstDenoisedShown.connect(once)
        QTimer.singleShot(3000, once)
        return

    def warm():
        try:
            import mri_denoise_gui.core.metrics  # noqa: F401
        except Exception:
            pass

    threading.Thread(target=warm, daemon=True, name="warm-up-imports").start()


def apply_command_line(window, args: argparse.Namespace) -> bool:
    """Options for this run only: none of them is saved, and a --screenshot run saves nothing."""
    if args.screenshot:
        window.persist_settings = False
    if args.size:
        try:
            w, h = (int(v) for v in args.size.lower().split("x"))
        except ValueError:
            print(f"mri-denoise-gui: bad --size {args.size!r} (use WxH)", file=sys.stderr)
            return False
        window.resize(w, h)
        window.keep_for_this_run("window/geometry")
    elif args.screenshot:
        window.resize(1280, 800)
    if args.axis:
        window.set_axis(args.axis)
        window.keep_for_this_run("view/axis")
    if args.slice is not None:
        window._initial_slice = args.slice
    if args.noise_kind or args.variance is not None or args.seed is not None:
        window.set_noise(args.noise_kind, args.variance, args.seed, apply=False)
        window.keep_for_this_run("noise/kind", "noise/variance", "noise/seed")
    if args.residual:
        window.residual_action.setChecked(True)
        window.keep_for_this_run("view/residual")
    if args.strength is not None:
        from mri_denoise_gui.qt.model_volume import STRENGTH_SETTING

        window.keep_for_this_run(STRENGTH_SETTING)
        window.set_strength(args.strength)
    if args.error_map:
        window.error_action.setChecked(True)
    methods = []
    for method in args.compare:
        folder = Path(method).expanduser()
        methods.append(f"model:{folder.resolve()}" if folder.is_dir() else method)
        try:
            window.check_method(methods[-1])
        except ValueError as exc:
            print(f"mri-denoise-gui: --compare {method}: {exc}", file=sys.stderr)
            return False
    if methods:
        window.replace_comparison_panes(methods)
    return True


def _report_first_slice(window, app) -> None:
    """Print when the first denoised slice is painted and when TensorFlow is ready, then quit."""
    seen = {"slice": False, "tf": False}

    def maybe_quit() -> None:
        if seen["slice"] and seen["tf"]:
            window.close()
            app.quit()

    def painted() -> None:
        window.repaint()  # a synchronous paint of the window with the denoised slice in it
        print(f"first_slice_painted_at={time.time():.6f} by={(window.model or {}).get('backend')}", flush=True)
        seen["slice"] = True
        maybe_quit()

    def mark(name: str) -> None:  # the stages on the way, so bench_gui.py can say where the time goes
        if name not in seen:
            seen[name] = True
            print(f"{name}_at={time.time():.6f}", flush=True)

    def ready(info: dict) -> None:
        mark(f"model_ready_{info.get('backend')}")
        if info.get("backend") == "tensorflow" and not seen["tf"]:
            print(f"tensorflow_ready_at={time.time():.6f}", flush=True)
            seen["tf"] = True
            maybe_quit()

    window.firstDenoisedShown.connect(painted)
    window.modelReady.connect(ready)
    window.volumeLoaded.connect(lambda: mark("volume_loaded"))
    window.noiseApplied.connect(lambda: mark("noise_applied"))
    mark("window_shown")



def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from mri_denoise_gui.preflight import check as preflight

    problem = preflight()  # before Qt: no display or missing xcb libraries would abort the process
    if problem:
        print(problem, file=sys.stderr)
        return 2

    import pyqtgraph as pg
    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication

    pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("mri-denoise-gui")
    app.setApplicationName("mri-denoise-gui")
    app.setApplicationDisplayName("MRI Denoise")
    app.setDesktopFileName("mri-denoise-gui")  # Wayland matches the window to the desktop entry

    from mri_denoise_gui.qt.main_window import MainWindow
    from mri_denoise_gui.qt.theme import apply_dark_theme

    apply_dark_theme(app)
    try:
        from mri_denoise_gui.qt.about import app_icon

        app.setWindowIcon(app_icon())
    except Exception:  # an icon is never worth failing start-up for
        pass
    from mri_denoise_gui.qt.messages import error_hook

    window = MainWindow()
    sys.excepthook = error_hook(window)  # an exception escaping a slot: a message, not an abort
    if not apply_command_line(window, args):
        return 2  # the reason is printed

    window.show()
    window.startup_seconds = time.perf_counter() - _T0
    if os.environ.get("MRI_DENOISE_GUI_EXIT_AFTER_SHOW"):  # benchmarks/bench_gui.py start-up timing
        app.processEvents()
        print(f"window_shown_at={time.time():.6f}", flush=True)
        window.close()
        return 0
    _warm_up_imports(window)
    exit_code = [0]
    if os.environ.get("MRI_DENOISE_GUI_EXIT_AFTER_FIRST_SLICE"):  # bench_gui.py: launch -> first slice painted
        _report_first_slice(window, app)

    if args.screenshot:
        out = Path(args.screenshot)
        done = [False]

        def shoot(reason: str = "") -> None:
            if done[0]:
                return
            done[0] = True
            if reason:
                print(f"mri-denoise-gui: {reason}; saving the screenshot anyway", file=sys.stderr)
            app.processEvents()
            ok = window.grab().save(str(out))
            if not ok:
                print(f"mri-denoise-gui: could not write {out}", file=sys.stderr)
                exit_code[0] = 1
            window.close()
            app.quit()

        def when_metrics_ready(waited_ms: int = 0) -> None:
            """The denoised slice is up: give the slice metrics (a background job) time to land."""
            data = window.data
            ready = data is None or not data.has_truth or window.slice_metrics.get("denoised") is not None
            compared = window.comparison_ready()  # --compare panes drawn, their scores in the table
            if (ready and compared) or (waited_ms >= 5000 and compared) or waited_ms >= 120_000:
                QTimer.singleShot(150, shoot)
            else:
                QTimer.singleShot(50, lambda: when_metrics_ready(waited_ms + 50))

        window.firstDenoisedShown.connect(lambda: when_metrics_ready())
        window.modelFailed.connect(lambda reason: QTimer.singleShot(300, lambda: shoot(f"model failed: {reason}")))
        QTimer.singleShot(int(args.screenshot_timeout * 1000), lambda: shoot("timed out waiting for a denoised slice"))

    def start() -> None:
        opened = True
        if args.file:
            index = args.volume_index
            if index is None and args.screenshot:
                index = 0  # unattended: never ask which volume of a 4D file
            opened = window.open_file(args.file, as_noisy=args.noisy_scan, volume_index=index)
        elif args.demo:
            opened = window.open_demo()
        if args.model:
            window.load_model(args.model)
        elif not window.load_default_model() and args.screenshot:
            QTimer.singleShot(300, lambda: shoot("no model"))
        if args.screenshot and not opened:
            QTimer.singleShot(300, lambda: shoot("no volume"))

    QTimer.singleShot(0, start)
    rc = app.exec()
    return exit_code[0] or rc


if __name__ == "__main__":
    raise SystemExit(main())
