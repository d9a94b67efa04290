"""The Model panel's summary of a model.json (every field optional)."""

from mri_denoise_gui.qt.model_info import model_summary


def test_summary_names_architecture_noise_and_validation():
    info = {"architecture": "resunet", "architecture_options": {"width": 16, "input_size": None},
            "parameters": 163924, "noise": {"kind": "rician", "variance_range": [0.0001, 0.01]},
            "validation": {"ssim": 0.91, "psnr": 33.04, "noisy_input": {"ssim": 0.52, "psnr": 26.6}},
            "epochs_run": 26, "training_seconds": 1800, "device": "CPU",
            "training_data": {"source": "synthetic MNI152"}}
    summary, tooltip = model_summary(info)
    assert "resunet (width 16) · 163,924 parameters" in summary
    assert "rician noise, variance 0.0001–0.01" in summary
    assert "validation SSIM 0.910 (noisy 0.520), PSNR 33.0 dB (noisy 26.6)" in summary
    assert "26 epochs, 30 min on CPU" in summary
    assert "synthetic MNI152" in tooltip
    summary, _ = model_summary({"architecture": "resunet",
                                "architecture_options": {"width": 16, "noise_level": True, "other": False}})
    assert summary.startswith("resunet (width 16, noise level)")
    summary, _ = model_summary({"architecture": "resunet", "architecture_options": {
        "width": 16, "noise_level": True, "wiener": True, "wiener_block": 4, "wiener_stride": 2}})
    assert summary.splitlines()[0] == "resunet (width 16, noise level, wiener (block 4, stride 2))"
    summary, _ = model_summary({"architecture": "resunet", "architecture_options": {"wiener": False, "wiener_block": 8}})
    assert summary.splitlines()[0] == "resunet (wiener_block 8)"  # a switch that is off does not take its options


def test_summary_of_an_empty_model_json():
    summary, _ = model_summary({})
    assert summary == "no training summary in model.json"
