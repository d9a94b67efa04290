"""Batch denoising throughput: in process vs a local Dask cluster of one and two workers.

Denoises the same set of synthetic volumes with the shipped default model (load, denoise, write
the .nii.gz and its sidecar: the whole per-file job) three ways and reports files/s:

- in process (``mri-denoise denoise ... --output-dir``), TensorFlow on all cores;
- one Dask worker with one thread and one TensorFlow thread;
- two Dask workers with one thread and one TensorFlow thread each.

Scaling efficiency = files/s(2 workers) / (2 x files/s(1 worker)). Both clusters are started
first (start-up and each worker's model load, i.e. importing TensorFlow, are timed apart and left
out of files/s) and every mode denoises two warm-up files; then the three modes take turns for
``--rounds`` rounds and the median of each is reported, so that load from other processes on a
shared machine falls on all three alike rather than on whichever ran last. CPU seconds per file
(workers plus this process, which holds the scheduler) are reported too: unlike files/s they do
not depend on what else runs on the cores, so CPU(1 worker) / CPU(2 workers) shows the cost of
spreading the work that a busy machine hides. Also times one 256x256x160 volume end to end in
process, split into reading, denoising and writing, for the on-paper estimate in benchmarks/README.md.

    python benchmarks/bench_batch.py [--files 24] [--shape 96 96 64] [--rounds 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402

from mri_denoise_gui.batch import DenoiseJob, output_for, run_job  # noqa: E402
from mri_denoise_gui.resources import default_model_dir  # noqa: E402


def phantom(shape, seed) -> np.ndarray:
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij")
    r = np.sqrt(sum(g ** 2 for g in grids))
    data = np.where(r < 0.8, 600.0, 0.0) + np.where(r < 0.5, 300.0, 0.0)
    return (data + 20.0 * rng.standard_normal(shape)).astype(np.float32)


def write_study(folder: Path, n: int, shape) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    for i in range(n):
        path = folder / f"sub-{i:03d}.nii.gz"
        nib.save(nib.Nifti1Image(phantom(shape, i), np.eye(4)), str(path))
        paths.append(path)
    return paths


def jobs_for(paths, out: Path, model: Path) -> list[DenoiseJob]:
    out.mkdir(parents=True, exist_ok=True)
    return [DenoiseJob(str(p), str(output_for(p, out)), str(model), batch_size=16) for p in paths]


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def timed(run_all, jobs, client=None) -> tuple[float, float]:
    """files/s of one pass over ``jobs``, and CPU seconds per file (this process, which holds the
    scheduler, plus every worker): the second does not depend on what else shares the cores."""
    def cpu():
        workers = client.run(_cpu_seconds) if client is not None else {}
        return _cpu_seconds() + sum(workers.values())

    cpu0, started = cpu(), time.perf_counter()
    results = run_all(jobs)
    seconds, cpu1 = time.perf_counter() - started, cpu()
    assert all(r.status == "done" for r in results), [r.message for r in results if r.status != "done"]
    return len(jobs) / seconds, (cpu1 - cpu0) / len(jobs)


def start_cluster(stack: ExitStack, n_workers: int, model: Path):
    """A LocalCluster of ``n_workers`` one-thread workers, each with one TensorFlow thread and the
    model loaded; returns (run_all, client, seconds to start)."""
    import logging

    from distributed import Client, LocalCluster

    from mri_denoise_gui.batch_dask import run_on_dask, start_workers

    started = time.perf_counter()
    cluster = stack.enter_context(LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                               dashboard_address=":0", memory_limit=0,
                                               silence_logs=logging.ERROR))
    client = stack.enter_context(Client(cluster))
    start_workers(client, str(model), threads=1)
    return (lambda jobs: run_on_dask(client, jobs)), client, time.perf_counter() - started


def large_volume_cost(tmp: Path, model: Path) -> dict:
    """Read / denoise / write seconds for one 256x256x160 volume in this process (all cores)."""
    from mri_denoise_gui.batch import get_denoiser
    from mri_denoise_gui.core.volume import load_volume, save_volume

    src = tmp / "large.nii.gz"
    nib.save(nib.Nifti1Image(phantom((256, 256, 160), 99), np.eye(4)), str(src))
    denoiser = get_denoiser(model)
    t0 = time.perf_counter()
    vol = load_volume(src)
    t1 = time.perf_counter()
    out = denoiser.denoise_volume(vol, batch_size=16)
    t2 = time.perf_counter()
    save_volume(tmp / "large_denoised.nii.gz", out, like=vol, sidecar={"status": "complete"})
    t3 = time.perf_counter()
    return {"read_s": t1 - t0, "denoise_s": t2 - t1, "write_s": t3 - t2, "total_s": t3 - t0,
            "slices_per_s": 160 / (t2 - t1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=24)
    parser.add_argument("--shape", type=int, nargs=3, default=(96, 96, 64))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args()
    model = default_model_dir()
    tmp = Path(tempfile.mkdtemp(prefix="bench_batch-"))
    try:
        paths = write_study(tmp / "study", args.files, tuple(args.shape))
        warmup = write_study(tmp / "warmup", 2, tuple(args.shape))
        report = {"cores": len(os.sched_getaffinity(0)), "load_average_before": os.getloadavg(),
                  "files": args.files, "shape": list(args.shape), "model": model.name, "rounds": args.rounds}
        with ExitStack() as stack:
            modes = {"in_process": (lambda jobs: [run_job(j) for j in jobs], None, 0.0)}
            modes["dask_1"] = start_cluster(stack, 1, model)
            modes["dask_2"] = start_cluster(stack, 2, model)
            rates: dict[str, list[float]] = {name: [] for name in modes}
            cpus: dict[str, list[float]] = {name: [] for name in modes}
            for name, (run_all, client, _) in modes.items():
                timed(run_all, jobs_for(warmup, tmp / name / "warmup", model), client)
            for r in range(args.rounds):
                for name, (run_all, client, _) in modes.items():
                    rate, cpu = timed(run_all, jobs_for(paths, tmp / name / f"round{r}", model), client)
                    rates[name].append(rate)
                    cpus[name].append(cpu)
        for name, (_, _, startup) in modes.items():
            report[name] = {"files_per_s": float(np.median(rates[name])), "rounds": rates[name],
                            "cpu_s_per_file": float(np.median(cpus[name])), "startup_seconds": startup}
        report["scaling_efficiency"] = report["dask_2"]["files_per_s"] / (2 * report["dask_1"]["files_per_s"])
        report["cpu_efficiency"] = report["dask_1"]["cpu_s_per_file"] / report["dask_2"]["cpu_s_per_file"]
        report["load_average_after"] = os.getloadavg()
        report["large_volume_256x256x160"] = large_volume_cost(tmp, model)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{args.files} files of {' x '.join(map(str, args.shape))}, model {model.name}, {report['cores']} cores, "
          f"load average {report['load_average_before'][0]:.1f} before, {report['load_average_after'][0]:.1f} after")
    labels = {"in_process": "in process (TF on all cores)", "dask_1": "Dask, 1 worker x 1 thread",
              "dask_2": "Dask, 2 workers x 1 thread"}
    for name, label in labels.items():
        r = report[name]
        rounds = ", ".join(f"{v:.2f}" for v in r["rounds"])
        start = f"; cluster start + model load {r['startup_seconds']:.1f} s" if r["startup_seconds"] else ""
        print(f"{label:<30} {r['files_per_s']:.2f} files/s (median of {rounds}{start}), "
              f"{r['cpu_s_per_file']:.3f} CPU s/file")
    print(f"scaling efficiency (2 workers vs 2 x 1): {100 * report['scaling_efficiency']:.0f} % wall clock, "
          f"{100 * report['cpu_efficiency']:.0f} % in CPU seconds per file")
    big = report["large_volume_256x256x160"]
    print(f"one 256x256x160 volume in process: read {big['read_s']:.2f} s, denoise {big['denoise_s']:.2f} s "
          f"({big['slices_per_s']:.0f} slices/s), write {big['write_s']:.2f} s, total {big['total_s']:.2f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
