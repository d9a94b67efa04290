"""What the main window remembers between runs (QSettings), and what it must not.

`remember` is the one place the window writes a setting. A `--screenshot` run writes nothing
(`persist_settings = False`), and values given on the command line (`--variance`,
`--residual`, `--axis`, `--size`…) hold for that run only (`keep_for_this_run`): one run's
options never carry into the next.
"""

from __future__ import annotations

from PyQt6.QtCore import QByteArray, QSettings, QSignalBlocker
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import QSplitter

from mri_denoise_gui.core.orientation import AXIS_NAMES
from mri_denoise_gui.qt.controls import MetricsPanel, NoiseControls, SliceControls
from mri_denoise_gui.qt.slice_views import CompareView
from mri_denoise_gui.viewer.session import ViewerSession
from mri_denoise_gui.viewer.state import NoiseSettings

ORGANIZATION = "mri-denoise-gui"
APPLICATION = "mri-denoise-gui"
NOISE_KEYS = ("noise/kind", "noise/variance", "noise/seed")


def default_settings() -> QSettings:
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


def _flag(value) -> bool:
    return str(value).lower() in ("true", "1")


class SettingsMixin:
    """Restore / save the window's settings, for `MainWindow` (which must come after it)."""

    persist_settings = True
    _session_only: frozenset = frozenset()
    settings: QSettings
    session: ViewerSession
    splitter: QSplitter
    noise_controls: NoiseControls
    slice_controls: SliceControls
    metrics_panel: MetricsPanel
    compare: CompareView
    residual_action: QAction
    pane_methods: dict[str, str]

    def remember(self, key: str, value) -> None:
        if self.persist_settings and key not in self._session_only:
            self.settings.setValue(key, value)

    def keep_for_this_run(self, *keys: str) -> None:
        """These settings were given for this run only: leave the stored ones as they are."""
        self._session_only = self._session_only | frozenset(keys)

    def _restore_settings(self) -> None:
        s = self.settings
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        state = s.value("window/splitter")
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.splitter.restoreState(state)
        try:
            noise = NoiseSettings(str(s.value("noise/kind", "rician")), float(s.value("noise/variance", 0.0025)),
                                  int(s.value("noise/seed", 0))).validated()
        except (TypeError, ValueError):
            noise = NoiseSettings()
        self.noise_controls.set_settings(noise)
        self.session.noise = noise
        self.noise_controls.set_auto_apply(_flag(s.value("noise/auto", "true")))
        axis = str(s.value("view/axis", "axial"))
        self.session.axis = axis if axis in AXIS_NAMES else "axial"
        self.slice_controls.set_axis(self.session.axis)
        residual = _flag(s.value("view/residual", "false"))
        with QSignalBlocker(self.residual_action):
            self.residual_action.setChecked(residual)
        self.compare.set_residual_visible(residual)
        self.metrics_panel.set_mask(_flag(s.value("metrics/mask", "false")))
        self._restore_comparison_panes(s.value("view/comparisons", []))

    def _restore_comparison_panes(self, methods) -> None:
        """The comparison panes of the last run; a model folder that has gone is left out, with a word."""
        if isinstance(methods, str):  # QSettings' INI format gives a one-item list back as a string
            methods = [methods]
        missing = []
        for method in methods or []:
            try:
                self.add_comparison_pane(str(method))
            except ValueError:
                missing.append(str(method))
        if missing:
            self.statusBar().showMessage(f"Comparison pane(s) of the last run not restored: {', '.join(missing)}", 15_000)

    def replace_comparison_panes(self, methods: list[str]) -> None:
        """The command line's --compare panes instead of the restored ones, for this run only."""
        for key in list(self.pane_methods):
            self.remove_comparison_pane(key)
        for method in methods:
            self.add_comparison_pane(method)
        self.keep_for_this_run("view/comparisons")

    def save_settings(self) -> None:
        noise = self.noise_controls.settings()
        values = {
            "window/geometry": self.saveGeometry(),
            "window/splitter": self.splitter.saveState(),
            "noise/kind": noise.kind,
            "noise/variance": noise.variance,
            "noise/seed": noise.seed,
            "noise/auto": self.noise_controls.auto_apply(),
            "view/axis": self.session.axis,
            "view/residual": self.compare.residual_visible,
            "metrics/mask": self.metrics_panel.mask_check.isChecked(),
            "view/comparisons": list(self.pane_methods.values()),
        }
        for key, value in values.items():
            self.remember(key, value)
        self.settings.sync()
