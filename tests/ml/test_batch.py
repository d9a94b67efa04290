"""Batch denoising: input expansion, what counts as complete, per-file failures, in process and on Dask."""

from __future__ import annotations

import json
import os
import signal

import nibabel as nib
import numpy as np
import pytest

from mri_denoise_gui.batch import DenoiseJob, InputError, expand_inputs, is_complete, output_for, run_job
from mri_denoise_gui.cli import main
from mri_denoise_gui.core.volume import sidecar_path
from tests.conftest import phantom, write_nifti

distributed = pytest.importorskip("distributed")


def run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def make_study(folder, n=20, bad=None, shape=(16, 16, 16)):
    """``n`` small volumes; the one at index ``bad`` is a truncated (unreadable) .nii.gz."""
    folder.mkdir()
    paths = [write_nifti(folder / f"sub-{i:02d}.nii.gz", phantom(shape, seed=i)) for i in range(n)]
    if bad is not None:
        raw = paths[bad].read_bytes()
        paths[bad].write_bytes(raw[: len(raw) // 3])
    return paths


# ------------------------------------------------------------ inputs and completeness (no TensorFlow)

def test_inputs_from_folders_globs_and_lists(tmp_path):
    files = make_study(tmp_path / "study", n=4)
    (tmp_path / "study" / "notes.txt").write_text("not a volume")
    listing = tmp_path / "list.txt"
    listing.write_text(f"# the first two\nstudy/{files[0].name}\n\n{files[1]}\n")
    assert expand_inputs([tmp_path / "study"]) == files
    assert expand_inputs([str(tmp_path / "study" / "sub-0[23].nii.gz")]) == files[2:]
    assert expand_inputs([f"@{listing}"]) == files[:2]
    # the same file named twice (list, then folder) is one job, in first-named order
    assert expand_inputs([f"@{listing}", tmp_path / "study"]) == files[:2] + files[2:]
    missing = tmp_path / "missing.nii.gz"
    assert expand_inputs([missing]) == [missing]  # fails as its own job, not the whole run
    (tmp_path / "empty").mkdir()
    for spec in (tmp_path / "empty", str(tmp_path / "nothing*.nii.gz"), f"@{tmp_path / 'nolist.txt'}"):
        with pytest.raises(InputError):
            expand_inputs([spec])


def test_complete_means_volume_and_finished_sidecar_for_the_same_source(tmp_path):
    src = write_nifti(tmp_path / "a.nii.gz", phantom((8, 8, 4)))
    dst = output_for(src, tmp_path)
    assert dst.name == "a_denoised.nii.gz" and not is_complete(src, dst)
    write_nifti(dst, phantom((8, 8, 4)))
    assert not is_complete(src, dst)  # no sidecar: a run died between the two writes
    side = sidecar_path(dst)
    for meta, complete in (({"status": "complete", "source": str(src.resolve())}, True),
                           ({"source": str(src.resolve())}, False),
                           ({"status": "complete", "source": str(tmp_path / "other.nii.gz")}, False)):
        side.write_text(json.dumps(meta))
        assert is_complete(src, dst) is complete
    side.write_text("{truncated")
    assert not is_complete(src, dst)


def test_a_bad_file_is_a_failed_result_with_one_line(tmp_path, tiny_model_dir):
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"\x1f\x8b not really gzip")
    result = run_job(DenoiseJob(str(bad), str(tmp_path / "o.nii.gz"), str(tiny_model_dir)))
    assert result.status == "failed" and "\n" not in result.message and str(bad) in result.message
    assert not (tmp_path / "o.nii.gz").exists() and not (tmp_path / "o.json").exists()


# ------------------------------------------------------------ on a Dask cluster

@pytest.fixture(scope="module")
def cluster():
    """Two one-thread worker processes (each imports TensorFlow once, ~7 s)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      memory_limit=0) as c:
        yield c


def _outputs(folder):
    return {p.name: np.asarray(nib.load(str(p)).dataobj) for p in sorted(folder.glob("*.nii.gz"))}


def test_dask_run_matches_in_process_reports_the_bad_file_and_resumes(tmp_path, tiny_model_dir, cluster,
                                                                      capsys):
    inputs = make_study(tmp_path / "study", n=20, bad=7)
    bad = inputs[7]
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    common = ["--model", tiny_model_dir, "--batch-size", "4"]

    code, _, err = run(["denoise", tmp_path / "study", "--output-dir", here, *common], capsys)
    assert code == 1, err
    assert "summary: 19 done, 0 skipped, 1 failed" in err and f"failed: {bad}:" in err

    code, _, err = run(["denoise", tmp_path / "study", "--output-dir", there, "--workers", "2", *common], capsys)
    assert code == 1, err
    assert "summary: 19 done, 0 skipped, 1 failed" in err and f"failed: {bad}:" in err
    assert "Traceback" not in err and "2 Dask worker(s)" in err
    a, b = _outputs(here), _outputs(there)
    assert len(a) == 19 and a.keys() == b.keys()
    for name in a:
        np.testing.assert_allclose(b[name], a[name], rtol=1e-5, atol=1e-5 * float(np.abs(a[name]).max()))
    sidecar = json.loads((there / "sub-00_denoised.json").read_text())
    assert sidecar["status"] == "complete" and sidecar["source"] == str(inputs[0].resolve())

    stamps = {p.name: p.stat().st_mtime_ns for p in there.iterdir()}
    code, _, err = run(["denoise", tmp_path / "study", "--output-dir", there, "--skip-existing",
                        "--scheduler", cluster.scheduler_address, *common], capsys)
    assert code == 1 and "summary: 0 done, 19 skipped, 1 failed" in err, err
    assert {p.name: p.stat().st_mtime_ns for p in there.iterdir()} == stamps  # nothing rewritten


def test_killing_a_worker_mid_run_still_completes_every_file(tmp_path, tiny_model_dir, cluster):
    from distributed import Client

    from mri_denoise_gui.batch_dask import run_on_dask, start_workers

    inputs = make_study(tmp_path / "study", n=20, shape=(32, 32, 48))
    out = tmp_path / "out"
    out.mkdir()
    jobs = [DenoiseJob(str(p), str(output_for(p, out)), str(tiny_model_dir)) for p in inputs]
    killed = []
    with Client(cluster) as client:
        assert start_workers(client, str(tiny_model_dir)) == 2

        def kill_a_busy_worker(result):
            if killed:
                return
            busy = {w: keys for w, keys in client.processing().items() if keys}
            if busy:
                worker = sorted(busy)[0]
                pid = client.run(os.getpid, workers=[worker])[worker]
                os.kill(pid, signal.SIGKILL)
                killed.append((worker, len(busy[worker])))

        results = run_on_dask(client, jobs, on_result=kill_a_busy_worker)
    assert killed  # a worker died while it held work
    assert sorted(r.status for r in results) == ["done"] * 20
    assert all(is_complete(p, output_for(p, out)) for p in inputs)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no partial files left behind


def test_the_dask_client_side_needs_no_tensorflow():
    """The command's own process only plans and collects on a cluster: TensorFlow stays on the workers."""
    import subprocess
    import sys

    code = ("import sys, mri_denoise_gui.batch_dask, mri_denoise_gui.progress, mri_denoise_gui.cli\n"
            "heavy = [m for m in ('tensorflow', 'keras', 'PyQt6') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_bad_batch_arguments_are_one_line_errors(tmp_path, capsys):
    study = tmp_path / "study"
    study.mkdir()
    a = write_nifti(study / "a.nii.gz", phantom((8, 8, 4)))
    user_file = write_nifti(study / "a_denoised.nii.gz", phantom((8, 8, 4), seed=1))
    before = user_file.read_bytes()
    code, _, err = run(["denoise", a, user_file, "--output-dir", study], capsys)
    assert code == 2 and "would be overwritten" in err and user_file.read_bytes() == before
    code, _, err = run(["denoise", a, "--workers", "2"], capsys)
    assert code == 2 and "need --output-dir" in err
    code, _, err = run(["denoise", a, "--output-dir", tmp_path, "--scheduler", tmp_path / "gone.json"], capsys)
    assert code == 2 and "no such scheduler file" in err and len(err.strip().splitlines()) == 1
