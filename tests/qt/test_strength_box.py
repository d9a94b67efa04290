"""The Strength box of the model panel: re-denoises at once, is remembered, greys out where it cannot apply."""

from __future__ import annotations

import numpy as np

from tests.qt.conftest import MODEL_TIMEOUT_MS, open_and_wait, wait_denoised_current


def test_strength_re_denoises_the_slice_and_is_remembered(qtbot, make_window, settings, noise_model_dir, small_file):
    window = make_window()
    spin = window.model_panel.strength_spin
    with qtbot.waitSignal(window.modelReady, timeout=MODEL_TIMEOUT_MS):
        window.load_model(noise_model_dir)
    assert spin.isEnabled() and spin.value() == 1.0 and window.strength_action.isEnabled()
    panel = window.model_panel  # first in the side panel, two lines of summary, the rest on hover
    assert panel.parentWidget().layout().indexOf(panel) == 0
    assert len(panel.summary_label.text().splitlines()) == 2 and "Runs on" in panel.summary_label.text()
    assert str(noise_model_dir) in panel.toolTip()
    open_and_wait(qtbot, window, small_file)
    wait_denoised_current(qtbot, window)
    before, token = window.current["denoised"].copy(), window.session.model_token
    with qtbot.waitSignal(window.modelReady, timeout=MODEL_TIMEOUT_MS) as ready:
        spin.setValue(0.5)
    assert ready.args[0]["strength"] == 0.5 and window.session.model_token > token
    assert "strength 0.5" in window.device_label.text()
    wait_denoised_current(qtbot, window)
    assert np.abs(window.current["denoised"] - before).max() > 1e-3  # a new slice, not the cached one
    assert float(settings.value("model/strength")) == 0.5
    again = make_window()  # a new window loads the model at the saved strength
    with qtbot.waitSignal(again.modelReady, timeout=MODEL_TIMEOUT_MS) as ready:
        again.load_model(noise_model_dir)
    assert ready.args[0]["strength"] == 0.5 and again.model_panel.strength_spin.value() == 0.5


def test_a_model_without_the_input_greys_the_box_out_and_keeps_the_saved_strength(
        qtbot, make_window, settings, tiny_model_dir):
    settings.setValue("model/strength", 0.5)
    window = make_window()
    with qtbot.waitSignal(window.modelReady, timeout=MODEL_TIMEOUT_MS) as ready:
        window.load_model(tiny_model_dir)
    assert ready.args[0]["strength"] == 1.0 and not ready.args[0]["strength_adjustable"]
    assert not window.model_panel.strength_spin.isEnabled() and window.model_panel.strength_spin.value() == 1.0
    assert not window.strength_action.isEnabled()  # Model > Denoising strength… too
    assert window.controller.strength == 0.5  # for the next model that has the input
    assert float(settings.value("model/strength")) == 0.5


def test_comparison_panes_and_orthogonal_views_follow_the_strength(qtbot, make_window, noise_model_dir, small_file):
    """A second model (here the same one, so the panes must agree) runs at the main model's strength."""
    window = make_window()
    with qtbot.waitSignal(window.modelReady, timeout=MODEL_TIMEOUT_MS):
        window.load_model(noise_model_dir)
    open_and_wait(qtbot, window, small_file)
    with qtbot.waitSignal(window.modelReady, timeout=MODEL_TIMEOUT_MS):
        window.model_panel.strength_spin.setValue(0.5)
    wait_denoised_current(qtbot, window)
    key = window.add_comparison_pane(f"model:{noise_model_dir}")

    def pane_matches_main():
        image, main = window.panes[key].image, window.current.get("denoised")
        return (image is not None and main is not None and image.shape == main.shape
                and np.abs(image - main).max() < 1e-5)

    qtbot.waitUntil(pane_matches_main, timeout=60_000)
    at_half = window.panes[key].image.copy()
    with qtbot.waitSignal(window.modelReady, timeout=MODEL_TIMEOUT_MS):
        window.model_panel.strength_spin.setValue(2.0)
    wait_denoised_current(qtbot, window)
    qtbot.waitUntil(pane_matches_main, timeout=60_000)
    assert np.abs(window.panes[key].image - at_half).max() > 1e-3  # re-denoised, not the cached slice
    method = f"model:{noise_model_dir}"
    with qtbot.waitSignal(window.volumeDenoised, timeout=60_000):
        window.denoise_volume()
    qtbot.waitUntil(lambda: method in window.method_volumes, timeout=120_000)
    with qtbot.waitSignal(window.modelReady, timeout=MODEL_TIMEOUT_MS):
        window.model_panel.strength_spin.setValue(1.0)
    assert method not in window.method_volumes  # made at strength 2: stale
    with qtbot.waitSignal(window.modelReady, timeout=MODEL_TIMEOUT_MS):
        window.model_panel.strength_spin.setValue(2.0)

    from mri_denoise_gui.ml.inference import Denoiser
    from mri_denoise_gui.viewer.state import display_from_file_slice, file_order_slice

    window.show_ortho(True)  # the network's planes come from the same worker: at strength 2 too
    qtbot.waitUntil(lambda: all(p.image is not None for p in window.ortho.panes.values()), timeout=60_000)
    at_two = Denoiser.load(noise_model_dir, precision=window.controller.precision, strength=2.0)
    for axis, pane in window.ortho.panes.items():
        geom = window.data.geometry(axis)
        index = geom.position(window.ortho_voxel)[0]
        expected = display_from_file_slice(
            at_two.denoise_slice01(file_order_slice(window.data.noisy01, geom, index)), geom, index)
        np.testing.assert_allclose(pane.image, expected, atol=1e-5)
