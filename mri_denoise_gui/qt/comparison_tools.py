"""Small tools around the comparison: menus, screenshot, typed noise level, residual / error export.

A mixin of `MainWindow` (with `ComparisonMixin`): `_build_comparison_menus` adds File › Save
screenshot, File › Export residual / error map, View › Add comparison pane, View › Show error
map and View › Show colour bars; the noise box gets a line where the level can be typed as σ,
% of range or variance. Residual and error map are exported in the source's units (the
normaliser is affine, so differences of inverted volumes are the differences in file units).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PyQt6.QtWidgets import QFileDialog, QLineEdit

from mri_denoise_gui.core.volume import has_nifti_suffix, save_volume
from mri_denoise_gui.qt.comparison import MODEL_PREFIX
from mri_denoise_gui.qt.messages import reported
from mri_denoise_gui.resources import seed_model_dir
from mri_denoise_gui.viewer.comparison import NETWORK, classical_methods, method_label, parse_noise_level
from mri_denoise_gui.viewer.export import build_sidecar, suggest_export_path

ROI_FILTER = "Regions of interest (*.json);;All files (*)"
DIFFERENCES = {"residual": "noisy − denoised", "error": "|denoised − ground truth|"}


def difference_volume(data, kind: str, denoised01: np.ndarray | None = None) -> np.ndarray:
    """The residual or error-map volume in the source's units, of the network or of `denoised01`."""
    denoised01 = data.denoised01 if denoised01 is None else denoised01
    if denoised01 is None:
        raise ValueError("run Denoise volume first: the residual and the error map need the whole denoised volume")
    inv = data.normalizer.inverse
    if kind == "residual":
        return inv(data.noisy01) - inv(denoised01)
    if kind == "error":
        if data.truth01 is None:
            raise ValueError("the error map needs a ground truth (open a clean volume or attach a reference)")
        return np.abs(inv(denoised01) - inv(data.truth01))
    raise ValueError(f"unknown difference {kind!r}")


class ComparisonToolsMixin:
    """Menus and small actions of the comparison work."""

    def _build_comparison_menus(self, file_menu, view_menu) -> None:
        first = file_menu.actions()[-1] if file_menu.actions() else None  # before "Quit"
        actions = [
            self._action(file_menu, "Save &screenshot…", self._ask_and_save_screenshot, "Ctrl+Shift+S",
                         tip="The window as a PNG (what --screenshot saves)"),
            self._action(file_menu, "Export &residual volume…", lambda: self._ask_and_export_difference("residual")),
            self._action(file_menu, "Export e&rror map volume…", lambda: self._ask_and_export_difference("error"),
                         tip="|denoised − truth| of the method the error pane shows"),
        ]
        if first is not None:
            for action in actions:
                file_menu.removeAction(action)
                file_menu.insertAction(first, action)
        view_menu.addSeparator()
        add_menu = view_menu.addMenu("Add &comparison pane")
        for method in [NETWORK, *classical_methods()]:
            self._action(add_menu, method_label(method), lambda m=method: self.add_comparison_pane(m))
        add_menu.addSeparator()
        self._action(add_menu, "Seed autoencoder (second model)", lambda: self._add_model_pane(seed_model_dir()))
        self._action(add_menu, "Another model folder…", self._ask_and_add_model_pane)
        self.error_action = self._action(view_menu, "Show &error map", self._on_error_toggled, "Ctrl+Shift+R",
                                         checkable=True)
        error_menu = view_menu.addMenu("Error map &of")
        for method in [NETWORK, *classical_methods()]:
            self._action(error_menu, method_label(method), lambda m=method: self._show_error_of(m))
        self.colour_bar_action = self._action(view_menu, "Show colour &bars", self.compare.set_colour_bars_visible,
                                              checkable=True)
        view_menu.addSeparator()
        self.ortho_action = self._action(view_menu, "&Orthogonal views", self.show_ortho, "Ctrl+Shift+V",
                                         checkable=True, tip="Axial, coronal and sagittal through one voxel: click to move")
        ortho_menu = view_menu.addMenu("Orthogonal views &show")
        for method in ["noisy", NETWORK, "truth", *classical_methods()]:
            self._action(ortho_menu, {"noisy": "Noisy", "truth": "Ground truth"}.get(method, method_label(method)),
                         lambda m=method: self.set_ortho_method(m))
        view_menu.addSeparator()
        for text, kind in (("Add rectangle &ROI", "rect"), ("Add e&llipse ROI", "ellipse"),
                           ("Add line &profile", "line")):
            self._action(view_menu, text, lambda k=kind: self._add_roi_from_menu(k))
        self._action(view_menu, "Clear ROIs", self.clear_rois)
        self._action(view_menu, "Save ROIs…", self._ask_and_save_rois,
                     tip="Keep the ROIs and profile lines as a JSON file, to measure the same regions later")
        self._action(view_menu, "Load ROIs…", self._ask_and_load_rois,
                     tip="Replace the ROIs on screen with those of a file saved by Save ROIs")

    def _ask_and_save_rois(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save ROIs", str(Path(self._last_dir()) / "rois.json"),
                                              ROI_FILTER)
        if path:
            self.save_rois(path)

    def _ask_and_load_rois(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load ROIs", self._last_dir(), ROI_FILTER)
        if path:
            self.load_rois(path)

    def _show_error_of(self, method: str) -> None:
        self.set_error_method(method)
        self.error_action.setChecked(True)

    def _ask_and_add_model_pane(self) -> None:
        start = str(self.settings.value("model/lastDir", str(Path.home())))
        folder = QFileDialog.getExistingDirectory(self, "Model folder to compare (model.keras + model.json)", start)
        if folder:
            self._add_model_pane(folder)

    @reported("Could not add the comparison pane", None)
    def _add_model_pane(self, folder) -> None:
        self.add_comparison_pane(MODEL_PREFIX + str(folder))

    def _add_roi_from_menu(self, kind: str) -> None:
        if self.session.data is None:
            self.statusBar().showMessage("Open a volume first", 5000)
            return
        self.add_roi(kind, "denoised" if self.panes["denoised"].image is not None else "noisy")

    def _build_noise_level_edit(self) -> None:
        self.noise_level_edit = QLineEdit()
        self.noise_level_edit.setObjectName("noiseLevelEdit")
        self.noise_level_edit.setPlaceholderText("type σ 0.05, 5% or var 0.0025")
        self.noise_level_edit.setToolTip("The noise level as σ, as % of the range, or as a variance")
        self.noise_level_edit.returnPressed.connect(self._on_noise_level_typed)
        self.noise_controls.layout().insertRow(3, "Level", self.noise_level_edit)

    def _on_noise_level_typed(self) -> None:
        try:
            variance = parse_noise_level(self.noise_level_edit.text())
        except ValueError as exc:
            self.statusBar().showMessage(str(exc), 10_000)
            return
        spin = self.noise_controls.variance_spin
        if not spin.minimum() <= variance <= spin.maximum():
            used = min(max(variance, spin.minimum()), spin.maximum())
            self.statusBar().showMessage(f"Noise level {self.noise_level_edit.text()} is variance {variance:g}, out of"
                                         f" range (0 to {spin.maximum():g}): set to {used:g}", 15_000)
        spin.setValue(variance)
        self.noise_level_edit.clear()

    # -- screenshot ----------------------------------------------------------------------------
    def _ask_and_save_screenshot(self) -> None:
        path = self._ask_save_path("Save screenshot", Path(self._last_dir()) / "mri-denoise-screenshot.png")
        if path:
            self.save_screenshot(path)

    @reported("Could not save the screenshot", False)
    def save_screenshot(self, path) -> bool:
        """The window as it is on screen, as a PNG (written to a temporary name, then moved)."""
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_name(path.name + ".png")
        tmp = path.with_name(path.name + ".part.png")
        if not self.grab().save(str(tmp), "PNG"):
            tmp.unlink(missing_ok=True)
            self.show_error("Could not save the screenshot", f"cannot write {path}")
            return False
        tmp.replace(path)
        self.statusBar().showMessage(f"Screenshot saved to {path}", 8000)
        return True

    # -- residual / error export ---------------------------------------------------------------
    def _ask_and_export_difference(self, kind: str) -> None:
        if self.session.data is None:
            return
        path = self._ask_save_path(f"Export {kind} volume", suggest_export_path(self.session.data.volume, kind))
        if path:
            self.export_difference(kind, path, self.error_method if kind == "error" else NETWORK)

    @reported("Could not export", False)
    def export_difference(self, kind: str, path, method: str = NETWORK) -> bool:
        """Write the residual or the error map of `method` as NIfTI with the source's header."""
        data = self.session.data
        if data is None:
            self.show_error("Nothing to export", "open a volume first")
            return False
        path = Path(path)
        if not has_nifti_suffix(path):
            path = path.with_name(path.name + ".nii.gz")
        volume01 = None
        if method != NETWORK:
            made = self.method_volumes.get(method)
            volume01 = made[1] if made is not None and made[0] == self.session.noise_token else None
        if (method == NETWORK and not self.volume_is_denoised()) or (method != NETWORK and volume01 is None):
            self.show_error(f"Could not export the {kind}", "run Model › Denoise whole volume first"
                            + ("" if method == NETWORK else f" with a {method_label(method)} pane shown"))
            return False
        sidecar = build_sidecar(data, kind, self.session.noise, self.session.model if method == NETWORK else None,
                                self.session.denoised_axis)
        sidecar["units"] = f"{DIFFERENCES[kind]}, in the source's intensity units"
        sidecar["method"] = method
        inputs = tuple(p for p in (data.volume.path, getattr(data.reference, "path", None)) if p is not None)

        def write(state):
            return save_volume(path, difference_volume(data, kind, volume01), like=data.volume, sidecar=sidecar, inputs=inputs)

        def done(written):
            self.statusBar().showMessage(f"Exported the {kind} to {written}", 10_000)
            self.exportFinished.emit(str(written))

        self.tasks.run(f"export {path}", write, done, lambda r, d: self.show_error(f"Could not export the {kind}", r, d))
        return True

