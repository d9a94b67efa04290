import gzip
import threading

import nibabel as nib
import numpy as np
import pytest

from mri_denoise_gui.core.volume import VolumeError, count_volumes, load_volume, save_volume, sidecar_path
from tests.conftest import phantom, write_nifti


def test_load_3d_keeps_voxel_order_and_geometry(tmp_path):
    data = phantom()
    affine = np.array([[-1.0, 0, 0, 10], [0, 0, 1.5, -5], [0, 2.0, 0, 3], [0, 0, 0, 1]])
    path = write_nifti(tmp_path / "a.nii", data, affine=affine, dtype=np.int16)
    vol = load_volume(path)
    assert vol.data.dtype == np.float32
    assert vol.shape == data.shape
    np.testing.assert_array_equal(vol.data, data.astype(np.int16).astype(np.float32))
    np.testing.assert_allclose(vol.affine, affine)
    assert vol.dtype == "int16"
    assert vol.voxel_sizes == pytest.approx((1.0, 2.0, 1.5))
    assert vol.orientation == ("L", "S", "A")
    assert vol.path == path.resolve()


def test_scaling_is_applied(tmp_path):
    img = nib.Nifti1Image(np.arange(24, dtype=np.int16).reshape(2, 3, 4), np.eye(4))
    img.header.set_slope_inter(2.0, 10.0)
    nib.save(img, str(tmp_path / "s.nii"))
    vol = load_volume(tmp_path / "s.nii")
    assert vol.data[0, 0, 1] == pytest.approx(12.0)


def test_2d_file_becomes_one_slice(tmp_path):
    path = write_nifti(tmp_path / "flat.nii.gz", np.ones((8, 9)))
    assert load_volume(path).shape == (8, 9, 1)


def test_4d_picks_volume_and_names_the_count(tmp_path):
    data = np.stack([np.full((4, 5, 6), i, dtype=np.float32) for i in range(3)], axis=-1)
    path = write_nifti(tmp_path / "four.nii.gz", data)
    assert count_volumes(path) == 3
    vol = load_volume(path, volume_index=2)
    assert vol.shape == (4, 5, 6) and vol.n_volumes == 3 and np.all(vol.data == 2)
    with pytest.raises(VolumeError, match="3 volumes"):
        load_volume(path, volume_index=3)


@pytest.mark.parametrize("name", ["four.nii.gz", "four.nii"])
def test_chunked_load_reports_progress_reads_the_same_and_cancels(tmp_path, monkeypatch, name):
    from mri_denoise_gui.core import volume

    monkeypatch.setattr(volume, "READ_CHUNK", 4096)
    data = np.random.default_rng(0).normal(size=(16, 16, 12, 3)).astype(np.float32)
    path = write_nifti(tmp_path / name, data)
    calls = []
    vol = load_volume(path, volume_index=1, progress=lambda done, total: calls.append((done, total)))
    assert np.array_equal(vol.data, load_volume(path, volume_index=1).data)
    assert np.array_equal(vol.data, data[..., 1]) and vol.n_volumes == 3
    per_volume = 16 * 16 * 12 * 4
    assert len(calls) > per_volume // 4096 and calls[-1] == (per_volume, per_volume)
    assert all(b[0] >= a[0] for a, b in zip(calls, calls[1:]))

    cancel = threading.Event()

    def stop_at_a_third(done, total):
        if done > total // 3:
            cancel.set()

    reads = []
    with pytest.raises(volume.LoadCancelled):
        load_volume(path, volume_index=2, progress=lambda d, t: (reads.append(d), stop_at_a_third(d, t)),
                    cancel=cancel)
    assert max(reads) < per_volume // 2  # stopped within a chunk, not at the end


def test_5d_is_refused(tmp_path):
    path = write_nifti(tmp_path / "five.nii.gz", np.zeros((2, 2, 2, 2, 2)))
    with pytest.raises(VolumeError, match="5D"):
        load_volume(path)


def test_nan_and_inf_replaced_with_warning(tmp_path):
    data = np.ones((4, 4, 4), np.float32)
    data[0, 0, 0] = np.nan
    data[1, 1, 1] = np.inf
    vol = load_volume(write_nifti(tmp_path / "nan.nii", data))
    assert np.isfinite(vol.data).all() and vol.data[0, 0, 0] == 0
    assert any("2 NaN/Inf" in w for w in vol.warnings)


def _write(path, content: bytes):
    path.write_bytes(content)
    return path


def _truncated_gzip(tmp_path, phantom_file):
    raw = phantom_file.read_bytes()
    bad = tmp_path / "trunc.nii.gz"
    bad.write_bytes(raw[: len(raw) // 2])
    return bad


def _header_bigger_than_data(tmp_path):
    path = write_nifti(tmp_path / "short.nii", np.ones((10, 10, 10)))
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) - 2000])
    return path


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda t, p: t / "missing.nii.gz", "no such file"),
        (lambda t, p: t, "folder"),
        (lambda t, p: _write(t / "empty.nii", b""), "empty"),
        (lambda t, p: _write(t / "text.nii", b"hello, not an image " * 40), "NIfTI"),
        (lambda t, p: _write(t / "notes.txt", b"hi"), "NIfTI"),
        (lambda t, p: _truncated_gzip(t, p), "truncated"),
        (lambda t, p: _header_bigger_than_data(t), "shorter than the header"),
    ],
)
@pytest.mark.parametrize("chunked", [False, True], ids=["plain", "chunked"])
def test_bad_files_give_one_line_volume_error(tmp_path, phantom_file, make, reason, chunked):
    path = make(tmp_path, phantom_file)
    with pytest.raises(VolumeError) as info:
        load_volume(path, cancel=threading.Event()) if chunked else load_volume(path)
    message = str(info.value)
    assert reason in message and "\n" not in message


def test_gzip_with_wrong_extension_is_named(tmp_path, phantom_file):
    renamed = tmp_path / "looks_plain.nii"
    renamed.write_bytes(phantom_file.read_bytes())
    with pytest.raises(VolumeError, match="gzip"):
        load_volume(renamed)


def test_save_round_trips_geometry_and_header_fields(tmp_path):
    affine = np.array([[0.9, 0.1, 0, -20], [-0.1, 0.9, 0.05, 12], [0, -0.05, 2.5, 4], [0, 0, 0, 1]])
    src = write_nifti(tmp_path / "src.nii.gz", phantom(), affine=affine, dtype=np.int16, sform_code=4, qform_code=1)
    img = nib.load(str(src))
    img.header["descrip"] = b"scanner xyz"
    img.header.set_xyzt_units("mm", "msec")
    nib.save(img, str(src))
    vol = load_volume(src)
    out = save_volume(tmp_path / "out.nii.gz", vol.data * 0.5, like=vol, sidecar={"k": 1})
    back = nib.load(str(out))
    assert back.get_data_dtype() == np.float32
    np.testing.assert_allclose(back.affine, vol.affine, atol=1e-5)
    np.testing.assert_allclose(back.header.get_sform(), vol.header.get_sform(), atol=1e-5)
    np.testing.assert_allclose(back.header.get_qform(), vol.header.get_qform(), atol=1e-5)
    assert int(back.header["sform_code"]) == 4 and int(back.header["qform_code"]) == 1
    assert back.header.get_zooms() == pytest.approx(vol.header.get_zooms())
    assert back.header.get_xyzt_units() == ("mm", "msec")
    assert bytes(back.header["descrip"]).rstrip(b"\0") == b"scanner xyz"
    np.testing.assert_allclose(np.asarray(back.dataobj), vol.data * 0.5, rtol=1e-6)
    assert sidecar_path(out).read_text().strip().startswith("{")


def test_save_refuses_to_overwrite_the_input(tmp_path, phantom_file):
    vol = load_volume(phantom_file)
    before = phantom_file.read_bytes()
    with pytest.raises(VolumeError, match="overwrite the input"):
        save_volume(phantom_file, vol.data, like=vol)
    assert phantom_file.read_bytes() == before


def test_failed_save_leaves_no_partial_file(tmp_path, phantom_file):
    vol = load_volume(phantom_file)
    target = tmp_path / "out"
    target.mkdir()
    existing = target / "result.nii.gz"
    existing.write_bytes(b"previous export")
    # A sidecar that cannot be serialised fails after the image was written to a temp file.
    with pytest.raises(TypeError):
        save_volume(target / "new.nii.gz", vol.data, like=vol, sidecar={"bad": object()})
    bad = np.array(vol.data)
    bad[0, 0, 0] = np.nan
    with pytest.raises(VolumeError):
        save_volume(existing, bad, like=vol)
    leftovers = sorted(p.name for p in target.iterdir())
    assert existing.read_bytes() == b"previous export"
    assert leftovers == ["result.nii.gz"], leftovers  # no new.nii.gz without its sidecar, no .part


def test_full_disk_is_a_volume_error_and_leaves_nothing(tmp_path, phantom_file, monkeypatch):
    vol = load_volume(phantom_file)

    def full(img, filename):
        with open(filename, "wb") as fh:
            fh.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(nib, "save", full)
    with pytest.raises(VolumeError, match="No space left"):
        save_volume(tmp_path / "x.nii.gz", vol.data, like=vol)
    assert [p.name for p in tmp_path.iterdir()] == ["phantom.nii.gz"]


def test_wrong_extension_refused(tmp_path, phantom_file):
    vol = load_volume(phantom_file)
    with pytest.raises(VolumeError, match=".nii"):
        save_volume(tmp_path / "x.img", vol.data, like=vol)


def test_gzip_is_really_gzip(tmp_path, phantom_file):
    vol = load_volume(phantom_file)
    out = save_volume(tmp_path / "x.nii.gz", vol.data, like=vol)
    with gzip.open(out) as fh:
        assert len(fh.read(348)) == 348


def test_complex_data_become_their_magnitude_with_a_warning(tmp_path):
    data = (phantom((8, 8, 4)) * (0.6 + 0.8j)).astype(np.complex64)
    vol = load_volume(write_nifti(tmp_path / "c.nii.gz", data, dtype=np.complex64))
    np.testing.assert_allclose(vol.data, np.abs(data), rtol=1e-5)
    assert "complex data: using the magnitude" in vol.warnings


def test_a_gzip_crc_error_is_refused_not_read_as_data(tmp_path):
    raw = nib.Nifti1Image(phantom((8, 8, 4)), np.eye(4)).to_bytes()
    packed = bytearray(gzip.compress(raw, compresslevel=0))
    packed[len(packed) // 2] ^= 0xFF  # a voxel byte in the stored block: it still decodes
    bad = tmp_path / "crc.nii.gz"
    bad.write_bytes(bytes(packed))
    for cancel in (None, threading.Event()):
        with pytest.raises(VolumeError, match="CRC"):
            load_volume(bad, cancel=cancel)


def test_an_unusable_affine_is_replaced_by_the_voxel_sizes(tmp_path, caplog):
    path = write_nifti(tmp_path / "a.nii.gz", phantom((8, 8, 4)), affine=np.diag([2.0, 3.0, 4.0, 1.0]))
    img = nib.load(str(path))
    img.header["srow_x"] = img.header["srow_y"] = img.header["srow_z"] = [np.nan] * 4
    nib.save(nib.Nifti1Image(np.asanyarray(img.dataobj), None, header=img.header), str(tmp_path / "b.nii"))
    with caplog.at_level("WARNING", logger="mri_denoise_gui"):
        vol = load_volume(tmp_path / "b.nii")
    if np.isfinite(nib.load(str(tmp_path / "b.nii")).affine).all():
        pytest.skip("nibabel fell back to the qform")
    np.testing.assert_allclose(np.diag(vol.affine)[:3], vol.voxel_sizes)
    assert any("affine" in w for w in vol.warnings) and "affine is unusable" in caplog.text


def test_a_volume_bigger_than_memory_is_refused_before_reading(tmp_path):
    from mri_denoise_gui.core.volume_checks import available_memory, check_memory

    room = available_memory()
    assert room is not None and room > 0
    side = int((room / 8) ** (1 / 3)) + 10
    with pytest.raises(VolumeError, match="memory"):
        check_memory(tmp_path / "x.nii", (side, side, side), 4)
    check_memory(tmp_path / "x.nii", (64, 64, 64), 4)  # a small one passes


def test_sidecar_is_stamped_and_both_or_neither(tmp_path, phantom_file):
    import json

    vol = load_volume(phantom_file)
    out = save_volume(tmp_path / "o.nii.gz", vol.data, like=vol)
    assert json.loads(sidecar_path(out).read_text())["software"].startswith("mri-denoise-gui")


def test_a_landed_save_sweeps_the_temporaries_a_killed_writer_left(tmp_path, phantom_file):
    """A Dask worker killed mid-write leaves its temp file; the retried write removes it (only ours, only stale)."""
    import os

    from mri_denoise_gui.core.outputs import _temp_next_to

    vol = load_volume(phantom_file)
    target = tmp_path / "out"
    target.mkdir()
    dst = target / "scan_denoised.nii.gz"
    stale = [_temp_next_to(dst), _temp_next_to(sidecar_path(dst))]
    busy = _temp_next_to(dst)  # another writer still at work: touched after our write began
    for old in stale:
        os.utime(old, (1_000_000, 1_000_000))
    os.utime(busy, (4_000_000_000, 4_000_000_000))
    others = [target / ".scan_denoised.nii.gz.notes", target / "x.part.nii.gz", target / ".scan_denoised.nii.gz.abc.part.nii.gz"]
    for other in others:
        other.write_bytes(b"user data")
        os.utime(other, (1_000_000, 1_000_000))

    save_volume(dst, vol.data, like=vol)
    names = {p.name for p in target.iterdir()}
    assert not names & {p.name for p in stale}
    assert {busy.name, dst.name, sidecar_path(dst).name} | {p.name for p in others} == names
