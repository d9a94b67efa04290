"""Every hostile input through every `mri-denoise` command: one line or a correct result.

For each run: the exit code, one error line and no traceback, the inputs byte-identical after,
no output left behind on failure. info / add-noise / metrics run in process (fast); the size
bombs also run in a subprocess under a 1 GiB address-space limit; denoise / train / evaluate
run in one subprocess (TensorFlow imported once) that measures each run's peak-memory growth.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from mri_denoise_gui.cli import main
from mri_denoise_gui.core.noise import NOISE_KINDS
from tests.hostile.corpus import Case, build_corpus, good_volume

CORE_LIMIT = 2**30  # address space for the non-TensorFlow commands: less than any size bomb claims
BOMB_RSS_MB = 300  # peak-memory growth allowed while refusing a size bomb
ML_TIMEOUT = 600


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry of the corpus folder and the sha256 of each regular file."""
    result = {}
    for entry in sorted(os.listdir(folder)):
        path = folder / entry
        if path.is_file():
            result[entry] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            result[entry] = "link" if path.is_symlink() else "other"
    return result


@pytest.fixture
def corpus(hostile_corpus):
    """The session corpus, checked byte-identical (and with no new files) after each test."""
    folder = next(iter(hostile_corpus.values())).path.parent
    before = snapshot(folder)
    yield hostile_corpus
    assert snapshot(folder) == before, "a command changed, removed or added a file next to its inputs"


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def check_outcome(case, code, out, err, out_dir: Path | None = None, reason=True):
    assert "Traceback" not in err and "Traceback" not in out, err
    if case.expect == "refuse":
        lines = err.strip().splitlines()
        errors = [line for line in lines if "error:" in line]
        assert code == 2, err
        assert len(errors) == 1 and lines[-1] == errors[0], err
        assert case.path.name in errors[0] or case.name == "folder", errors[0]
        if reason:
            assert case.reason.lower() in errors[0].lower(), errors[0]
        if out_dir is not None:
            assert list(out_dir.iterdir()) == [], "a failed command left files behind"
    else:
        assert code == 0, err
        assert case.reason in out + err, f"expected the warning {case.reason!r}"


def case_names():
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        return sorted(build_corpus(folder))


NAMES = case_names()


@pytest.mark.parametrize("name", NAMES)
def test_info(corpus, name, capsys):
    case = corpus[name]
    code, out, err = run(["info", case.path], capsys)
    check_outcome(case, code, out, err)
    if case.expect == "ok":
        assert "shape:" in out


@pytest.mark.parametrize("name", NAMES)
def test_metrics(corpus, name, capsys):
    case = corpus[name]
    code, out, err = run(["metrics", case.path, case.path, "--json"], capsys)
    check_outcome(case, code, out, err)
    if case.expect == "ok":
        assert json.loads(out)["psnr"] == "inf"


@pytest.mark.parametrize("name", NAMES)
def test_add_noise(corpus, name, tmp_path, capsys):
    case = corpus[name]
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "noisy.nii.gz"
    code, out, err = run(["add-noise", case.path, target, "--variance", "0.01", "--seed", "1"], capsys)
    check_outcome(case, code, out, err, out_dir)
    if case.expect == "ok":
        assert sorted(p.name for p in out_dir.iterdir()) == ["noisy.json", "noisy.nii.gz"]


@pytest.mark.parametrize("kind", NOISE_KINDS)
def test_every_noise_kind_takes_every_valid_volume(corpus, kind, tmp_path, capsys):
    """Bright voxels, negative intensities, constant volumes: same decision as the window (accept)."""
    for case in (c for c in corpus.values() if c.expect == "ok"):
        target = tmp_path / f"{case.name}_{kind}.nii.gz"
        code, out, err = run(["add-noise", case.path, target, "--kind", kind, "--variance", "0.005"], capsys)
        assert code == 0 and "Traceback" not in err, f"{case.name}: {err}"
        assert target.exists() and target.with_name(target.name.replace(".nii.gz", ".json")).exists()


def _driver(spec: dict, tmp_path: Path, limit: int | None = None, timeout: float = 300) -> list[dict]:
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec))

    def cap_memory():
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    root = str(Path(__file__).parents[2])  # the driver runs this checkout's code
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "tests.hostile.driver", str(spec_file)], capture_output=True,
                          text=True, timeout=timeout, preexec_fn=cap_memory, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_size_bombs_are_refused_before_allocating(corpus, tmp_path):
    """Under a 1 GiB address-space limit a 2 GiB allocation would fail as 'not enough memory':
    the refusal must come from the header check instead, with little memory used."""
    bombs = [c for c in corpus.values() if c.size_bomb]
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    runs = []
    for case in bombs:
        runs += [["info", str(case.path)], ["metrics", str(case.path), str(case.path)],
                 ["add-noise", str(case.path), str(out_dir / "n.nii.gz"), "--variance", "0.01"]]
    results = _driver({"import_tf": False, "runs": runs}, tmp_path, limit=CORE_LIMIT)
    for case, group in zip(bombs, (results[i:i + 3] for i in range(0, len(results), 3))):
        for r in group:
            check_outcome(case, r["code"], r["stdout"], r["stderr"], out_dir)
            assert r["rss_growth_mb"] < BOMB_RSS_MB, (r["argv"], r["rss_growth_mb"])


@pytest.mark.timeout(ML_TIMEOUT)
def test_model_commands(corpus, tmp_path):
    """denoise on every case, evaluate on every refused case plus the repaired ones, train on every
    refused case (a successful training takes ~15 s each: tests/ml covers it)."""
    pytest.importorskip("tensorflow")
    cases = sorted(corpus.values(), key=lambda c: not c.size_bomb)  # bombs first: clean peak memory
    model = tmp_path / "tiny"
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    planned = []
    for case in cases:
        dst = out_dir / f"{case.name}_denoised.nii.gz"
        planned.append((case, "denoise", ["denoise", str(case.path), str(dst), "--model", str(model), "--quiet"]))
    for case in cases:
        if case.expect == "refuse" or case.reason:
            planned.append((case, "evaluate", ["evaluate", "--data", str(case.path), "--model", str(model),
                                               "--baselines", "none"]))
    for case in (c for c in cases if c.expect == "refuse"):
        planned.append((case, "train", ["train", "--data", str(case.path), "--out", str(out_dir / f"m_{case.name}"),
                                        "--arch", "tiny", "--epochs", "1", "--steps-per-epoch", "1"]))
    # outputs that are the input by another name, or would replace its sidecar
    scan = good_volume(tmp_path / "data", "scan.nii.gz")
    os.symlink(scan.name, scan.parent / "alias.nii.gz")
    for dst, words in ((scan.parent / "alias.nii.gz", "overwrite the input"), (scan.parent / "scan.nii", "sidecar")):
        planned.append((Case("scan", dst, "refuse", words), "denoise",
                        ["denoise", str(scan), str(dst), "--model", str(model), "--quiet"]))
    data_before = snapshot(scan.parent)
    results = _driver({"import_tf": True, "tiny_model": str(model), "runs": [p[2] for p in planned]},
                      tmp_path, timeout=ML_TIMEOUT)
    ok_outputs = set()
    for (case, command, _), r in zip(planned, results):
        # train / evaluate find files through ml.data first; their wording for a missing path differs
        check_outcome(case, r["code"], r["stdout"], r["stderr"], reason=command == "denoise"
                      and case.name not in ("symlink_loop",))
        if case.size_bomb:
            assert r["rss_growth_mb"] < BOMB_RSS_MB, (r["argv"], r["rss_growth_mb"])
        if command == "denoise" and case.expect == "ok":
            ok_outputs |= {f"{case.name}_denoised.nii.gz", f"{case.name}_denoised.json"}
    assert {p.name for p in out_dir.iterdir()} == ok_outputs, "a failed command left files behind"
    assert snapshot(scan.parent) == data_before
