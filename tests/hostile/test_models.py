"""Hostile model folders and training-output traps, through the real `mri-denoise` command.

Every case must end with exit code 2 and one line on stderr (no traceback), leave every file
that was there byte-identical and leave nothing new behind. Cases TensorFlow never needs run as
their own `python -m mri_denoise_gui.cli` (about a second each); the rest run grouped in one
subprocess that imports TensorFlow once and calls the CLI's `main` per case.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import phantom, write_nifti
from tests.hostile.model_corpus import WITH_TF, WITHOUT_TF, build_model_corpus, save_tiny
from tests.hostile.mounts import tmpfs

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": os.pathsep.join(
    [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")])}
#: TensorFlow's C++ start-up chatter (absl), which is not the CLI's to silence
TF_LOG = re.compile(r"^(WARNING: All log messages before absl|[IWEF]\d{4} )")

#: Runs the CLI's main() once per argv list given as JSON, reporting code and output for each.
DRIVER = r"""
import contextlib, io, json, sys, traceback
from mri_denoise_gui.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
        except BaseException:
            traceback.print_exc()
            code = "crashed"
    results.append({"argv": argv, "code": code, "stderr": err.getvalue(), "stdout": out.getvalue()})
print(json.dumps(results))
"""


def snapshot(root: Path) -> dict:
    """Every path under ``root`` with its sha256 (files), link target (links) or "dir"."""
    tree = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                tree[rel] = "-> " + os.readlink(path)
            elif path.is_dir():
                tree[rel] = "dir"
            else:
                tree[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return tree


def user_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip() and not TF_LOG.match(line)]


def assert_refused(code, stderr: str, *words: str, progress: bool = False) -> str:
    """Exit 2 and one line saying why (after progress lines, when a run got that far)."""
    lines = user_lines(stderr)
    assert code == 2, stderr
    assert "Traceback" not in stderr, stderr
    errors = [line for line in lines if line.startswith("mri-denoise ")]
    assert len(errors) == 1 and lines[-1] == errors[0] and (progress or len(lines) == 1), stderr
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


def cli(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mri_denoise_gui.cli", *map(str, args)], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=600)


def cli_group(argvs: list[list], cwd: Path) -> list[dict]:
    done = subprocess.run([sys.executable, "-c", DRIVER, json.dumps([[str(a) for a in argv] for argv in argvs])],
                          cwd=cwd, env=ENV, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- hostile model folders

@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return build_model_corpus(tmp_path_factory.mktemp("hostile_models"))


@pytest.fixture
def scan(tmp_path):
    return write_nifti(tmp_path / "scan.nii.gz", phantom((24, 24, 6)))


def test_model_folders_refused_before_tensorflow(models, scan, tmp_path):
    before = snapshot(models["good"].parent), snapshot(tmp_path)
    done = cli("denoise", scan, tmp_path / "out.nii.gz", "--model", models["scans"], cwd=tmp_path)
    assert_refused(done.returncode, done.stderr, WITHOUT_TF["scans"], "scans")
    argvs = [["denoise", scan, tmp_path / "out.nii.gz", "--model", models[name]] for name in WITHOUT_TF]
    argvs.append(["evaluate", "--data", scan, "--model", models["good"], models["json_list"]])
    results = cli_group(argvs, tmp_path)
    for (name, words), result in zip([*WITHOUT_TF.items(), ("json_list", "JSON object")], results):
        assert_refused(result["code"], result["stderr"], words, name)
    # a missing optional baseline is refused before any model is even looked at
    if not _has_bm3d():
        done = cli("evaluate", "--data", scan, "--model", models["lambda"], "--baselines", "nlm,bm3d", cwd=tmp_path)
        line = assert_refused(done.returncode, done.stderr, "bm3d", "pip install")
        assert "lambda" not in line
    assert (snapshot(models["good"].parent), snapshot(tmp_path)) == before


def _has_bm3d() -> bool:
    import importlib.util

    return importlib.util.find_spec("bm3d") is not None


def test_model_folders_refused_by_the_network_checks(models, scan, tmp_path):
    before = snapshot(models["good"].parent), snapshot(tmp_path)
    argvs = []
    for name in WITH_TF:
        argvs.append(["denoise", scan, tmp_path / "out.nii.gz", "--model", models[name], "--quiet"])
        argvs.append(["evaluate", "--data", scan, "--model", models[name], "--baselines", "none", "--json"])
    argvs.append(["evaluate", "--data", scan, "--model", models["good"], "--baselines", "none", "--json",
                  "--variance", "0"])  # noise-free input: PSNR is infinite
    results = cli_group(argvs, tmp_path)
    for (name, words), pair in zip(WITH_TF.items(), zip(results[0::2], results[1::2])):
        for result in pair:
            assert_refused(result["code"], result["stderr"], words, name)
            assert result["stdout"] == ""
    good = results[-1]
    assert good["code"] == 0, good["stderr"]
    report = json.loads(good["stdout"], parse_constant=lambda c: pytest.fail(f"invalid JSON constant {c}"))
    noisy = next(r for r in report["rows"] if r["method"] == "noisy input")
    assert noisy["psnr"] is None and noisy["ssim"] == pytest.approx(1.0)
    assert (snapshot(models["good"].parent), snapshot(tmp_path)) == before


# ---------------------------------------------------------------- training-output traps

@pytest.fixture
def workspace(tmp_path):
    """A data folder of two 64x64 scans, a thesis folder, and a model this app wrote."""
    from mri_denoise_gui.ml.architectures import build

    data = tmp_path / "data"
    data.mkdir()
    files = [write_nifti(data / f"s{i}.nii.gz", phantom((64, 64, 12), seed=i)) for i in range(2)]
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "thesis.tex").write_text("\\chapter{Results}\n")
    (thesis / "figures").mkdir()
    (thesis / "figures" / "fig1.pdf").write_bytes(b"%PDF-1.4 not really")
    model = save_tiny(build("tiny"), tmp_path / "model")
    touched = save_tiny(build("tiny"), tmp_path / "model_plus_notes")
    (touched / "notes.txt").write_text("my notes about this model")
    other = tmp_path / "other_tool_model"
    other.mkdir()
    (other / "model.keras").write_bytes((model / "model.keras").read_bytes())
    (other / "model.json").write_text(json.dumps({"format_version": 1, "architecture": "unet"}))
    (tmp_path / "data_link").symlink_to(data)
    os.link(files[0], tmp_path / "hardlink.nii.gz")
    configs = {"list": "[1, 2, 3]", "broken": '{"epochs": 2,', "unknown": '{"epochs": 2, "wings": 4}',
               "wrong_type": '{"data": 5}', "wrong_options": '{"arch_options": "big"}'}
    for name, text in configs.items():
        (tmp_path / f"{name}.json").write_text(text)
    return {"root": tmp_path, "data": data, "files": files, "thesis": thesis, "model": model,
            "touched": touched, "other": other}


def _train(*args) -> list:
    return ["train", "--arch", "tiny", "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "2",
            "--patch", "16", *args]


def test_training_never_replaces_what_it_did_not_write(workspace):
    w, root = workspace, workspace["root"]
    data, first = w["data"], w["files"][0]
    cases = [  # (argv, words of the refusal)
        (_train("--data", data, "--out", data), ["training input"]),
        (_train("--data", first, "--out", data), ["not a model"]),  # the scans' folder, given one scan
        (_train("--data", data, "--out", w["thesis"]), ["not a model"]),
        (_train("--data", data, "--out", first), ["a file in the training data folder"]),
        (_train("--data", first, "--out", root / "data_link"), ["not a model"]),
        (_train("--data", data, "--out", root / "data_link"), ["training input"]),
        (_train("--data", first, "--out", root / "hardlink.nii.gz"), ["training input"]),
        (_train("--data", root / "hardlink.nii.gz", "--out", data / "s1.nii.gz"), ["a file, not a folder"]),
        (_train("--data", data, "--out", data / ".." / "data"), ["training input"]),
        (_train("--data", data, "--out", data / "models" / "new"), ["inside the training data"]),
        (_train("--data", data, "--out", w["touched"]), ["not a model"]),
        (_train("--data", data, "--out", w["other"]), ["not a model"]),
        (_train("--data", data, "--init-from", w["model"], "--out", w["model"]), ["fine-tuned"]),
    ]
    before = snapshot(root)
    done = cli(*cases[0][0], cwd=root)  # the real entry point once; the rest in one process
    assert_refused(done.returncode, done.stderr, "--out", *cases[0][1])
    for (argv, words), result in zip(cases, cli_group([argv for argv, _ in cases], root)):
        assert_refused(result["code"], result["stderr"], "--out", *words)
    assert snapshot(root) == before


def test_bad_settings_end_in_one_line_before_any_data_is_loaded(workspace):
    w, root = workspace, workspace["root"]
    out = root / "new_model"
    cases = [
        (_train("--data", w["data"], "--out", out, "--config", root / "list.json"), ["JSON object"]),
        (_train("--data", w["data"], "--out", out, "--config", root / "broken.json"), ["not valid JSON"]),
        (_train("--data", w["data"], "--out", out, "--config", root / "unknown.json"), ["wings"]),
        (_train("--data", w["data"], "--out", out, "--config", root / "wrong_type.json"), ["data"]),
        (_train("--data", w["data"], "--out", out, "--config", root / "wrong_options.json"), ["arch_options"]),
        (_train("--data", w["data"], "--out", out, "--config", root / "missing.json"), ["cannot read"]),
        (_train("--data", w["data"], "--out", out, "--patch", "4096"), ["4096", "at most 64"]),
        (["train", "--data", w["data"], "--out", out, "--arch", "seed-autoencoder", "--patch", "32"],
         ["256x256"]),
        (_train("--data", w["data"], "--out", out, "--init-from", w["thesis"]), ["init_from", "model.json"]),
    ]
    before = snapshot(root)
    results = cli_group([argv for argv, _ in cases], root)
    for (argv, words), result in zip(cases, results):
        assert_refused(result["code"], result["stderr"], *words)
    assert snapshot(root) == before


def test_read_only_and_full_disks_end_in_one_line_and_leave_nothing(workspace):
    w, root = workspace, workspace["root"]
    (root / "small.json").write_text('{"val_patches": 4}')
    with tmpfs(root / "ro", "ro,size=64k") as ro, tmpfs(root / "full", "size=64k") as full:
        before = snapshot(root)
        results = cli_group([
            _train("--data", w["data"], "--out", ro / "model"),
            _train("--data", w["data"], "--out", ro / "sub" / "model"),
            # a real (tiny) run whose first checkpoint (about 90 KB) does not fit on the 64 KB disk
            _train("--data", w["data"], "--out", full / "model", "--config", root / "small.json"),
        ], root)
        assert_refused(results[0]["code"], results[0]["stderr"], "read-only")
        assert_refused(results[1]["code"], results[1]["stderr"], "read-only")
        line = assert_refused(results[2]["code"], results[2]["stderr"], "cannot write the model", progress=True)
        assert "No space left" in line
        assert snapshot(root) == before
