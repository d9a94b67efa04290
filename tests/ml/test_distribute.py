"""Training on several devices: mirrored over two logical CPUs, multi-worker over two local processes.

Logical devices and multi-worker collectives must be set up before TensorFlow starts, so each run
is a fresh Python process (``sys.executable``, which inherits PYTHONPATH and so this checkout).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from mri_denoise_gui.ml.distribute import DISTRIBUTIONS, check_tf_config
from mri_denoise_gui.ml.train import TrainingConfig
from tests.conftest import phantom, write_nifti

TRAIN_ARGS = ["--arch", "tiny", "--epochs", "1", "--steps-per-epoch", "3", "--batch-size", "2", "--patch", "16",
              "--variance-range", "0.001", "0.004", "--val-fraction", "0.5"]

TWO_LOGICAL_CPUS = textwrap.dedent("""
    import sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from mri_denoise_gui.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def _env(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **extra)
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


@pytest.fixture
def data_files(tmp_path):
    return [str(write_nifti(tmp_path / f"v{i}.nii.gz", phantom((32, 32, 12), seed=i))) for i in range(2)]


def test_distribution_is_a_checked_setting_and_a_cli_choice():
    assert TrainingConfig(distribution="mirrored").to_dict()["distribution"] == "mirrored"
    assert "distribution" in TrainingConfig(out="m", synthetic=True, distribution="ring").validate()
    assert "distribution" not in TrainingConfig(out="m", synthetic=True, distribution="multiworker").validate()
    from mri_denoise_gui.cli import build_parser

    for name in DISTRIBUTIONS:
        assert build_parser().parse_args(["train", "--distribution", name]).distribution == name


def test_tf_config_problems_are_one_line(monkeypatch):
    for value, words in (("", "needs the TF_CONFIG"), ("{not json", "must be JSON"),
                         ('{"cluster": {}, "task": {"type": "worker", "index": 0}}', "no workers")):
        monkeypatch.setenv("TF_CONFIG", value)
        with pytest.raises(ValueError, match=words):
            check_tf_config()


def test_mirrored_training_on_two_logical_cpus_writes_a_usable_model(tmp_path, data_files):
    out = tmp_path / "mirrored"
    proc = subprocess.run([sys.executable, "-c", TWO_LOGICAL_CPUS, "train", "--data", *data_files,
                           "--out", str(out), "--distribution", "mirrored", *TRAIN_ARGS],
                          capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 replica(s) in sync (mirrored)" in proc.stderr
    meta = json.loads((out / "model.json").read_text())
    assert meta["distribution"] == {"strategy": "mirrored", "replicas": 2}
    assert meta["config"]["batch_size"] == 2  # per replica: each step took 4 patches

    from mri_denoise_gui.ml.inference import Denoiser

    denoiser = Denoiser.load(out)
    vol = phantom((24, 24, 5))
    den = denoiser.denoise_volume(vol)
    assert den.shape == vol.shape and np.isfinite(den).all() and not np.array_equal(den, vol)


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_multiworker_training_on_two_local_processes_only_the_chief_writes(tmp_path, data_files):
    out = tmp_path / "models" / "multi"
    workers = [f"localhost:{p}" for p in _free_ports(2)]
    procs = []
    for index in range(2):
        tf_config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "mri_denoise_gui.cli", "train", "--data", *data_files, "--out", str(out),
             "--distribution", "multiworker", *TRAIN_ARGS],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(TF_CONFIG=tf_config)))
    try:
        logs = [p.communicate(timeout=300)[1] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0], "\n---\n".join(log[-3000:] for log in logs)
    assert all("2 replica(s) in sync (multiworker)" in log for log in logs)
    assert "wrote" in logs[0] and "the chief writes the model" in logs[1]
    meta = json.loads((out / "model.json").read_text())
    assert meta["distribution"] == {"strategy": "multiworker", "replicas": 2}
    assert sorted(p.name for p in out.parent.iterdir()) == ["multi"]  # the other worker left nothing here
