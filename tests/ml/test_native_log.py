"""Start-up chatter of TensorFlow / LiteRT is dropped from stderr; everything else gets through."""

import os
import subprocess
import sys

import pytest

from mri_denoise_gui.ml.native_log import is_noise, nvidia_driver_present, quiet_native_stderr

CUINIT = ("E0000 00:00:1796191697.710274 5995 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
          "CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n")


def test_only_known_chatter_is_noise():
    assert is_noise(CUINIT, 0, driver=False)
    assert not is_noise(CUINIT, 0, driver=True)  # a driver that fails is news
    info = "I0000 00:00:1796191693.936998 5995 cudart_stub.cc:31] Could not find cuda drivers\n"
    assert is_noise(info, 2, driver=False) and not is_noise(info, 0, driver=False)
    assert not is_noise("E0000 00:00:1.0 1 op_kernel.cc:1] real error\n", 2, driver=False)
    assert not is_noise("Traceback (most recent call last):\n", 2, driver=False)


def test_other_lines_written_inside_the_block_are_replayed(capfd):
    with quiet_native_stderr():
        with quiet_native_stderr():  # nested blocks share one capture
            os.write(2, CUINIT.encode())
            os.write(2, b"a real problem\n")
        os.write(2, b"I0000 00:00:1.0 1 port.cc:153] chatter\n")
    os.write(2, b"after\n")
    err = capfd.readouterr().err
    assert "a real problem\n" in err and err.index("a real problem") < err.index("after")
    if not nvidia_driver_present():
        assert "cuInit" not in err


@pytest.mark.skipif(nvidia_driver_present(), reason="with an NVIDIA driver a cuInit failure is shown on purpose")
@pytest.mark.parametrize("code, printed", [
    ("from mri_denoise_gui.ml.device import configure_devices; print(configure_devices())", ("CPU", "GPU")),
    # batch.configure_tf_threads is the first TensorFlow call in each Dask worker
    ("from mri_denoise_gui.batch import configure_tf_threads; print(configure_tf_threads(1))", ("1",)),
], ids=["device set-up", "dask worker threads"])
def test_tensorflow_start_prints_no_cuinit_error(code, printed):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith(printed)
    assert "cuInit" not in out.stderr
