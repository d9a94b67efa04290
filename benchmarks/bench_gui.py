"""GUI speed and memory, offscreen (QT_QPA_PLATFORM=offscreen), on a 256x256x128 volume.

1. Slice change -> all panes updated (data extracted, ImageItems set, and the window repainted
   via processEvents): median and 95th percentile, with the denoised slices cached (target
   < 16 ms, 60 frames per second) and uncached (the worker denoises the slice: time until the
   denoised pane shows it).
2. Process start -> main window shown (target < 2 s on 2 cores), in a fresh process.
   Process start -> first denoised slice painted, `mri-denoise-gui --demo` in a fresh process
   (target < 2 s): with the model's LiteRT copy bridging TensorFlow's import, and without it
   (MRI_DENOISE_GUI_LITERT=0: waits for TensorFlow), runs alternated; plus when TF took over.
3. Peak resident memory of a fresh process with a 256x256x256 volume open, noisy and denoised
   (including the whole-volume SSIM / PSNR the window computes after "Denoise volume").

    python benchmarks/bench_gui.py [--model DIR] [--only latency|startup|first-slice|memory] [--json]

The model is the bundled default model if it exists, else a freshly built untrained "tiny"
network (say which in the table: speed of the uncached path depends on it).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402


def phantom(shape, seed=0) -> np.ndarray:
    """A smooth head-like volume in scanner-ish units (realistic enough for timing)."""
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*[np.linspace(-1, 1, s, dtype=np.float32) for s in shape], indexing="ij", sparse=True)
    r = np.sqrt(grids[0] ** 2 + (grids[1] * 1.15) ** 2 + (grids[2] * 1.1) ** 2)
    data = np.where(r < 0.85, 500.0, 0.0).astype(np.float32)
    data += np.where(r < 0.6, 300.0, 0.0).astype(np.float32)
    data += (20.0 * rng.standard_normal(shape)).astype(np.float32) * (r < 0.85)
    return data


def write_volume(path: Path, shape) -> Path:
    import nibabel as nib

    img = nib.Nifti1Image(phantom(shape), np.diag([1.0, 1.0, 1.0, 1.0]))
    img.set_qform(img.affine, code=1)
    img.set_sform(img.affine, code=1)
    nib.save(img, str(path))
    return path


def pick_model(folder: str | None, tmp: Path) -> tuple[Path, str]:
    if folder:
        return Path(folder), Path(folder).name
    from mri_denoise_gui.resources import default_model_dir

    default = default_model_dir()
    if (default / "model.keras").exists():
        return default, "bundled default"
    from mri_denoise_gui.core.normalize import Normalizer
    from mri_denoise_gui.ml import architectures, modelfile

    model = architectures.build("tiny")
    out = modelfile.save_model_folder(model, tmp / "tiny", {"architecture": "tiny",
                                                            "normalizer": Normalizer().to_dict(), "stride": 4})
    return out, "tiny (untrained; no bundled model yet)"


def stats(ms: list[float]) -> tuple[float, float]:
    a = np.asarray(ms)
    return float(np.median(a)), float(np.percentile(a, 95))


def wait_until(app, predicate, timeout=300.0) -> None:
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError("benchmark step timed out")
        app.processEvents()
        time.sleep(0.001)


def bench_latency(model_dir: Path, tmp: Path, n: int = 200) -> dict:
    from PyQt6.QtCore import QSettings
    from PyQt6.QtWidgets import QApplication

    from mri_denoise_gui.qt.main_window import MainWindow
    from mri_denoise_gui.qt.theme import apply_dark_theme

    app = QApplication.instance() or QApplication([])
    apply_dark_theme(app)
    window = MainWindow(settings=QSettings(str(tmp / "bench.ini"), QSettings.Format.IniFormat))
    window.resize(1280, 800)
    window.show()
    window.open_file(write_volume(tmp / "bench256.nii.gz", (256, 256, 128)))
    wait_until(app, lambda: window.data is not None and window.data.noisy01 is not None)
    loaded = []
    window.modelReady.connect(loaded.append)
    window.load_model(model_dir)
    wait_until(app, lambda: any(info.get("backend") == "tensorflow" for info in loaded))  # not the LiteRT bridge
    wait_until(app, lambda: window.current.get("denoised") is not None)
    rng = np.random.default_rng(0)
    n_slices = window.data.geometry("axial").n_slices

    # uncached: every slice is new to the cache; time until the denoised pane shows it
    uncached = []
    for index in rng.permutation(n_slices)[: min(40, n_slices)]:
        t0 = time.perf_counter()
        window.set_slice(int(index))
        app.processEvents()
        wait_until(app, lambda: window.current.get("denoised") is not None)
        app.processEvents()
        uncached.append(1000 * (time.perf_counter() - t0))

    # cached: denoise the whole volume, then scrub
    done = []
    window.volumeDenoised.connect(lambda: done.append(1))
    t0 = time.perf_counter()
    window.denoise_volume()
    wait_until(app, lambda: bool(done), timeout=1800)
    volume_s = time.perf_counter() - t0
    window._metrics_timer.stop()
    cached, data_only = [], []
    for index in rng.integers(0, n_slices, n):
        t0 = time.perf_counter()
        window.set_slice(int(index))
        t1 = time.perf_counter()
        app.processEvents()  # delivers the repaint of every pane
        t2 = time.perf_counter()
        assert window.current.get("denoised") is not None
        data_only.append(1000 * (t1 - t0))
        cached.append(1000 * (t2 - t0))

    # four panes: a Total-variation comparison pane (its whole volume computed, so cached too);
    # three- and four-pane scrubs alternate so a busy shared machine slows both alike
    key = window.add_comparison_pane("tv")
    window._denoise_methods_volume()
    wait_until(app, lambda: "tv" in window.method_volumes, timeout=1800)
    app.processEvents()
    three, four = [], []
    for index in rng.integers(0, n_slices, n):
        for panes_on, out in ((False, three), (True, four)):
            window.panes[key].setVisible(panes_on)
            if panes_on:
                window.compare._relayout()
            app.processEvents()
            t0 = time.perf_counter()
            window.set_slice(int(index) if panes_on else (int(index) + 1) % n_slices)
            app.processEvents()
            out.append(1000 * (time.perf_counter() - t0))
            assert not panes_on or window.panes[key].image is not None
    window.remove_comparison_pane(key)

    # slice metrics run in a background thread 40 ms after scrubbing pauses; their cost, in place
    metrics_ms = []
    for index in rng.integers(0, n_slices, 20):
        window.set_slice(int(index))
        t0 = time.perf_counter()
        window.update_slice_metrics(wait=True)
        metrics_ms.append(1000 * (time.perf_counter() - t0))
    window.close()
    return {
        "model": window.model.get("name") if window.model else None,
        "device": window.model.get("device") if window.model else None,
        "cached_ms": stats(cached), "cached_data_only_ms": stats(data_only),
        "uncached_ms": stats(uncached), "metrics_ms": stats(metrics_ms),
        "three_pane_ms": stats(three), "four_pane_ms": stats(four),
        "volume_denoise_s": volume_s, "n_cached": len(cached), "n_uncached": len(uncached),
    }


def bench_startup(runs: int = 5) -> dict:
    """Wall time from spawning `python -m mri_denoise_gui` to the window being shown."""
    times, inside = [], []
    env = dict(os.environ, MRI_DENOISE_GUI_EXIT_AFTER_SHOW="1", QT_QPA_PLATFORM="offscreen")
    with tempfile.TemporaryDirectory() as home:
        env["HOME"] = home
        env["XDG_CONFIG_HOME"] = home
        for _ in range(runs):
            wall0, t0 = time.time(), time.perf_counter()
            out = subprocess.run([sys.executable, "-m", "mri_denoise_gui"], env=env, capture_output=True,
                                 text=True, timeout=120, cwd=str(ROOT))
            shown = [line for line in out.stdout.splitlines() if line.startswith("window_shown_at=")]
            if out.returncode != 0 or not shown:
                raise RuntimeError(f"start-up run failed: {out.stderr[-1000:]}")
            times.append(float(shown[0].split("=")[1]) - wall0)
            inside.append(time.perf_counter() - t0)
    return {"shown_s": stats(times), "process_total_s": stats(inside), "runs": runs}


# the app's marks on the way to the first slice (app._report_first_slice), in the order they come
FIRST_SLICE_STAGES = ("window_shown", "model_ready_litert", "volume_loaded", "noise_applied")


def bench_first_slice(runs: int = 5) -> dict:
    """Wall time from spawning `python -m mri_denoise_gui --demo` to the first denoised slice painted
    (and to TensorFlow being ready), with and without the LiteRT bridge, alternated."""
    times: dict = {"litert": [], "tensorflow_only": []}
    tf_ready: dict = {"litert": [], "tensorflow_only": []}
    stages: dict = {mode: {s: [] for s in FIRST_SLICE_STAGES} for mode in times}
    with tempfile.TemporaryDirectory() as home:
        base = dict(os.environ, MRI_DENOISE_GUI_EXIT_AFTER_FIRST_SLICE="1", QT_QPA_PLATFORM="offscreen",
                    HOME=home, XDG_CONFIG_HOME=home)
        for _ in range(runs):
            for mode in times:
                env = dict(base, MRI_DENOISE_GUI_LITERT="0" if mode == "tensorflow_only" else "1")
                wall0 = time.time()
                out = subprocess.run([sys.executable, "-m", "mri_denoise_gui", "--demo"], env=env,
                                     capture_output=True, text=True, timeout=300, cwd=str(ROOT))
                marks = dict(line.split(" ")[0].split("=") for line in out.stdout.splitlines() if "_at=" in line)
                if out.returncode != 0 or "first_slice_painted_at" not in marks:
                    raise RuntimeError(f"first-slice run failed: {out.stderr[-1000:]}")
                times[mode].append(float(marks["first_slice_painted_at"]) - wall0)
                tf_ready[mode].append(float(marks.get("tensorflow_ready_at", "nan")) - wall0)
                for stage in FIRST_SLICE_STAGES:
                    stages[mode][stage].append(float(marks.get(f"{stage}_at", "nan")) - wall0)
    return {"first_slice_s": {m: stats(v) for m, v in times.items()},
            "tensorflow_ready_s": {m: stats(v) for m, v in tf_ready.items()},
            "stages_s": {m: {s: stats(v) for s, v in st.items()} for m, st in stages.items()}, "runs": runs}


def bench_memory(model_dir: Path) -> dict:
    """Peak RSS of a fresh GUI process with a 256^3 volume open, noisy and denoised."""
    code = f"""
import os, sys, time, resource, tempfile
from pathlib import Path
sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(ROOT / 'benchmarks')!r})
os.environ['QT_QPA_PLATFORM'] = 'offscreen'
from bench_gui import write_volume, wait_until
from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import QApplication
from mri_denoise_gui.qt.main_window import MainWindow
app = QApplication([])
tmp = Path(tempfile.mkdtemp())
w = MainWindow(settings=QSettings(str(tmp / 's.ini'), QSettings.Format.IniFormat)); w.show()
w.open_file(write_volume(tmp / 'v.nii.gz', (256, 256, 256)))
wait_until(app, lambda: w.data is not None and w.data.noisy01 is not None)
ready = []; w.modelReady.connect(ready.append); w.load_model({str(model_dir)!r})
wait_until(app, lambda: bool(ready))
done = []; w.volumeDenoised.connect(lambda: done.append(1))
metrics = []; w.volumeMetricsReady.connect(metrics.append)  # computed right after the denoise
w.denoise_volume()
wait_until(app, lambda: bool(done) and bool(metrics), timeout=3600)
for i in range(0, 256, 8): w.set_slice(i); app.processEvents()
print('peak_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, flush=True)
w.close()
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=3600)
    lines = [line for line in out.stdout.splitlines() if line.startswith("peak_kb")]
    if not lines:
        raise RuntimeError(f"memory run failed: {out.stderr[-2000:]}")
    return {"peak_mb": int(lines[0].split()[1]) / 1024.0}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: bundled default, else an untrained tiny net)")
    parser.add_argument("--only", choices=("latency", "startup", "first-slice", "memory"))
    parser.add_argument("--json", action="store_true", help="print the raw numbers as JSON too")
    args = parser.parse_args(argv)
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        model_dir, model_label = pick_model(args.model, tmp)
        results["model"] = model_label
        if args.only in (None, "startup"):
            results["startup"] = bench_startup()
        if args.only in (None, "first-slice"):
            results["first_slice"] = bench_first_slice()
        if args.only in (None, "latency"):
            results["latency"] = bench_latency(model_dir, tmp)
        if args.only in (None, "memory"):
            results["memory"] = bench_memory(model_dir)
    print(f"\nGUI benchmark ({os.cpu_count()} CPU cores, offscreen; model: {results['model']})\n")
    print("| measure | median | 95th pct | target |")
    print("|---|---|---|---|")
    if "latency" in results:
        lat = results["latency"]
        print(f"| slice change, cached, all panes repainted | {lat['cached_ms'][0]:.1f} ms | {lat['cached_ms'][1]:.1f} ms | < 16 ms |")
        print(f"| slice change, cached, four panes (+ TV pane) repainted | {lat['four_pane_ms'][0]:.1f} ms "
              f"| {lat['four_pane_ms'][1]:.1f} ms | < 16 ms |")
        print(f"| same scrub, three panes (alternated with the four-pane one) | {lat['three_pane_ms'][0]:.1f} ms "
              f"| {lat['three_pane_ms'][1]:.1f} ms | ratio {lat['four_pane_ms'][0] / lat['three_pane_ms'][0]:.2f} |")
        print(f"| slice change, cached, data only (no repaint) | {lat['cached_data_only_ms'][0]:.1f} ms "
              f"| {lat['cached_data_only_ms'][1]:.1f} ms | |")
        print(f"| slice change, uncached (worker denoises) | {lat['uncached_ms'][0]:.1f} ms | {lat['uncached_ms'][1]:.1f} ms | |")
        print(f"| slice SSIM + PSNR (noisy cached, denoised) | {lat['metrics_ms'][0]:.1f} ms | {lat['metrics_ms'][1]:.1f} ms | |")
        print(f"| whole 256x256x128 volume denoise | {lat['volume_denoise_s']:.1f} s | | |")
    if "startup" in results:
        st = results["startup"]
        print(f"| process start -> window shown | {st['shown_s'][0]:.2f} s | {st['shown_s'][1]:.2f} s | < 2 s |")
    if "first_slice" in results:
        fs = results["first_slice"]
        for mode, label in (("litert", "LiteRT until TF is ready"), ("tensorflow_only", "waiting for TensorFlow")):
            med, p95 = fs["first_slice_s"][mode]
            print(f"| process start -> first denoised slice painted (--demo, {label}) | {med:.2f} s | {p95:.2f} s "
                  f"| {'< 2 s' if mode == 'litert' else ''} |")
            print(f"| process start -> TensorFlow serving slices ({label}) | {fs['tensorflow_ready_s'][mode][0]:.2f} s "
                  f"| {fs['tensorflow_ready_s'][mode][1]:.2f} s | |")
        for stage in FIRST_SLICE_STAGES:  # where the time before the first slice goes (LiteRT runs)
            med, p95 = fs["stages_s"]["litert"][stage]
            if med == med:  # NaN: the stage never happened (no LiteRT copy, say)
                print(f"| ... of which: {stage.replace('_', ' ')} | {med:.2f} s | {p95:.2f} s | |")
    if "memory" in results:
        print(f"| peak RSS, 256^3 volume open, noisy + denoised | {results['memory']['peak_mb']:.0f} MB | | |")
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    raise SystemExit(main())
