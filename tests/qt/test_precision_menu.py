"""Model > Precision: the choice is saved in QSettings, reloads the model, and the status bar says it."""

from __future__ import annotations

from tests.qt.conftest import MODEL_TIMEOUT_MS


def _action(window, value):
    return next(a for a in window.precision_actions.actions() if a.data() == value)


def test_forcing_float32_reloads_the_model_and_is_remembered(qtbot, make_window, settings, tiny_model_dir):
    window = make_window()
    assert _action(window, "auto").isChecked() and window.controller.precision == "auto"
    with qtbot.waitSignal(window.modelReady, timeout=MODEL_TIMEOUT_MS):
        window.load_model(tiny_model_dir)
    with qtbot.waitSignal(window.modelReady, timeout=MODEL_TIMEOUT_MS) as ready:
        _action(window, "float32").trigger()
    assert ready.args[0]["precision"] == "float32" and ready.args[0]["device"].endswith("float32")
    assert "float32" in window.device_label.text()
    assert settings.value("model/precision") == "float32"
    again = make_window()  # a new window starts with the saved choice
    assert _action(again, "float32").isChecked() and again.controller.precision == "float32"
