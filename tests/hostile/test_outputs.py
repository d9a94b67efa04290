"""Hostile output paths: nothing the program did not write is replaced, nothing partial is left.

Run through `mri-denoise add-noise` (core.volume.save_volume, which denoise and the window's
export use too): the output is the input by another name, shares its sidecar, is a foreign
file, sits in a missing or read-only folder, or the disk fills while the sidecar is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from mri_denoise_gui.cli import main
from tests.hostile.corpus import good_volume
from tests.hostile.mounts import tmpfs

NOISE = ["--variance", "0.01", "--seed", "3"]


def tree(folder: Path) -> dict[str, str]:
    """Every file under `folder` (symlinks by target) with its sha256."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        if path.is_symlink():
            out[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[rel] = "dir"
    return out


@pytest.fixture
def scan(tmp_path) -> Path:
    """A valid input with a BIDS sidecar of its own (which no output may replace)."""
    path = good_volume(tmp_path / "data", "sub-01_T1w.nii.gz")
    (tmp_path / "data" / "sub-01_T1w.json").write_text('{"RepetitionTime": 2.3}\n')
    return path


def refused(argv, capsys, folder: Path, words: str) -> str:
    before = tree(folder)
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and words in err, err
    assert tree(folder) == before, "the refused command changed files"
    return err


def test_output_is_the_input_by_path_symlink_hard_link_or_dotdot(scan, tmp_path, capsys):
    data = scan.parent
    os.symlink(scan.name, data / "alias.nii.gz")
    os.link(scan, data / "hard.nii.gz")
    for out in (scan, data / "alias.nii.gz", data / "hard.nii.gz", data / ".." / "data" / scan.name):
        refused(["add-noise", scan, out, *NOISE], capsys, tmp_path, "overwrite the input")


def test_output_sharing_the_inputs_stem_would_replace_its_sidecar(scan, tmp_path, capsys):
    same_stem = scan.parent / "sub-01_T1w.nii"
    refused(["add-noise", scan, same_stem, *NOISE], capsys, tmp_path, "sidecar sub-01_T1w.json")


def test_foreign_files_are_never_replaced(scan, tmp_path, capsys):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "theirs.nii.gz").write_bytes(b"someone else's volume")
    (out_dir / "mine.json").write_text('{"RepetitionTime": 2.0}\n')
    refused(["add-noise", scan, out_dir / "theirs.nii.gz", *NOISE], capsys, tmp_path, "not written by")
    refused(["add-noise", scan, out_dir / "mine.nii.gz", *NOISE], capsys, tmp_path, "not written by")


def test_our_own_output_may_be_replaced(scan, tmp_path, capsys):
    out = tmp_path / "noisy.nii.gz"
    for seed in ("1", "2"):
        assert main(["add-noise", str(scan), str(out), "--variance", "0.01", "--seed", seed]) == 0
    assert json.loads((tmp_path / "noisy.json").read_text())["noise"]["seed"] == 2


@pytest.mark.parametrize("where", ["missing_folder", "dangling_link", "link_loop", "a_folder"])
def test_unusable_output_paths(scan, tmp_path, capsys, where):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "x.nii.gz"
    if where == "missing_folder":
        target = out_dir / "nope" / "x.nii.gz"
    elif where == "dangling_link":
        os.symlink("gone.nii.gz", target)
    elif where == "link_loop":
        os.symlink(target.name, target)
    else:
        target.mkdir()
    refused(["add-noise", scan, target, *NOISE], capsys, tmp_path, "x.nii.gz" if where != "missing_folder" else "nope")


def test_read_only_output_folder(scan, tmp_path, capsys):
    """A folder the user may not write to (mode 555); as root, who may, a read-only file system."""
    if os.geteuid() == 0:
        with tmpfs(tmp_path / "ro", "ro,size=64k") as out_dir:
            refused(["add-noise", scan, out_dir / "x.nii.gz", *NOISE], capsys, tmp_path, "could not write")
        return
    out_dir = tmp_path / "ro"
    out_dir.mkdir()
    out_dir.chmod(0o555)
    try:
        refused(["add-noise", scan, out_dir / "x.nii.gz", *NOISE], capsys, tmp_path, "could not write")
    finally:
        out_dir.chmod(0o755)


def _limit_file_size():
    # a real failure of the OS: writes past 450 bytes fail with EFBIG (SIGXFSZ ignored)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (450, 450))


def test_a_failed_sidecar_write_leaves_no_volume(tmp_path):
    """The volume (tiny, uncompressed) fits under the file-size limit, its sidecar does not."""
    import nibabel as nib
    import numpy as np

    src = tmp_path / "in.nii"
    nib.save(nib.Nifti1Image(np.arange(8, dtype=np.float32).reshape(2, 2, 2), np.eye(4)), str(src))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = subprocess.run([sys.executable, "-m", "mri_denoise_gui.cli", "add-noise", str(src),
                           str(out_dir / "noisy.nii"), "--variance", "0.01"], capture_output=True, text=True,
                          preexec_fn=_limit_file_size, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "could not write" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert list(out_dir.iterdir()) == [], "the volume was left without its sidecar"


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_outputs_follow_the_umask(scan, tmp_path, umask):
    old = os.umask(umask)
    try:
        assert main(["add-noise", str(scan), str(tmp_path / "n.nii.gz"), *NOISE]) == 0
    finally:
        os.umask(old)
    for name in ("n.nii.gz", "n.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask
