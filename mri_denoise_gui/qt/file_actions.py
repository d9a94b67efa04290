"""File actions of the main window: open (dialog, recent, drag and drop, 4D), set up the new
volume, attach a reference, export.

A mixin of `MainWindow`; what it uses of the window is declared on the class. Files are read
by the job runner (`tasks`, job "load"), state changes go to the `ViewerSession`. The dialogs go through `_ask_open_path` / `_ask_save_path` / `ask_volume_index`, which tests
replace.
"""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import numpy as np
from PyQt6.QtCore import QSettings, Qt, QTimer, pyqtSignal
from PyQt6.QtWidgets import QFileDialog, QInputDialog, QMenu

from mri_denoise_gui.core.orientation import axis_codes
from mri_denoise_gui.core.volume import count_volumes, has_nifti_suffix, load_volume
from mri_denoise_gui.qt.controls import NoiseControls, SliceControls, VolumeJobPanel
from mri_denoise_gui.qt.messages import reported
from mri_denoise_gui.qt.slice_views import CompareView
from mri_denoise_gui.qt.tasks import JobRunner
from mri_denoise_gui.viewer.export import build_sidecar, export_source01, suggest_export_path, write_export
from mri_denoise_gui.viewer.session import ViewerSession
from mri_denoise_gui.viewer.state import MODE_NOISY, ViewerData, prepare_viewer_data

MAX_RECENT = 10
SYNC_LOAD_VOXELS = 2**16  # volumes whose header promises more load in a background thread (~3 ms here)
NIFTI_FILTER = "NIfTI volumes (*.nii *.nii.gz);;All files (*)"


def promised_voxels(path: Path) -> int:
    """Voxels in one volume, as the header says (read from the header alone, in a millisecond)."""
    shape = nib.load(str(path)).shape[:3]
    return int(np.prod([max(int(s), 0) for s in shape], dtype=np.int64))


class FileActionsMixin:
    """Open / recent / drop / attach / export, for `MainWindow` (which must come after it)."""

    settings: QSettings
    session: ViewerSession
    tasks: JobRunner
    compare: CompareView
    panes: dict
    slice_controls: SliceControls
    noise_controls: NoiseControls
    job_panel: VolumeJobPanel
    recent_menu: QMenu
    exportFinished: pyqtSignal
    volumeLoaded: pyqtSignal
    _initial_slice: int | None
    _closing: bool

    def _ask_open_path(self, title: str) -> str | None:
        path, _ = QFileDialog.getOpenFileName(self, title, self._last_dir(), NIFTI_FILTER)
        return path or None

    def _ask_save_path(self, title: str, suggested: Path) -> str | None:
        path, _ = QFileDialog.getSaveFileName(self, title, str(suggested), NIFTI_FILTER)
        return path or None

    def ask_volume_index(self, path: Path, n_volumes: int) -> int | None:
        """Which volume of a 4D file to open (None = cancel)."""
        value, ok = QInputDialog.getInt(self, "4D volume", f"{Path(path).name} holds {n_volumes} volumes.\n"
                                        "Which one (0-based)?", 0, 0, n_volumes - 1)
        return int(value) if ok else None

    def _last_dir(self) -> str:
        return str(self.settings.value("files/lastDir", str(Path.home())))

    def _on_open_triggered(self) -> None:
        path = self._ask_open_path("Open volume (simulate noise)")
        if path:
            self.open_file(path)

    def _on_open_noisy_triggered(self) -> None:
        path = self._ask_open_path("Open real noisy scan")
        if path:
            self.open_file(path, as_noisy=True)

    @reported("Could not open the demo volume")
    def open_demo(self) -> bool:
        from mri_denoise_gui.resources import demo_volume_path

        try:
            path = demo_volume_path()
        except FileNotFoundError as exc:
            self.show_error("No demo volume", str(exc))
            return False
        if not path.exists():
            self.show_error("No demo volume", f"the bundled demo volume is missing ({path}); run `make demo-volume`")
            return False
        return self.open_file(path)

    @reported("Could not open volume")
    def open_file(self, path, as_noisy: bool = False, volume_index: int | None = None) -> bool:
        """Open a NIfTI file: at once when its header promises a small volume, else in a thread.

        The header decides, not the size on disk: an 81-byte .nii.gz can promise gigabytes.
        """
        path = Path(path)
        n = count_volumes(path)
        if n > 1 and volume_index is None:
            volume_index = self.ask_volume_index(path, n)
            if volume_index is None:
                return False
        volume_index = int(volume_index or 0)
        self.cancel_load()  # a newer open replaces a load still running
        if promised_voxels(path) <= SYNC_LOAD_VOXELS:
            return self._set_volume(prepare_viewer_data(load_volume(path, volume_index), as_noisy))
        self.job_panel.set_running(True, f"Loading {path.name}… %p %")
        self.statusBar().showMessage(f"Loading {path.name}… (Cancel stops it)")

        def load(state):
            volume = load_volume(path, volume_index, progress=state.set_progress, cancel=state.cancel)
            return prepare_viewer_data(volume, as_noisy)

        def done(data):
            self._end_load()
            if not self._closing:
                self._set_volume(data)

        def failed(reason, details):
            self._end_load()
            if not self._closing:
                self.show_error("Could not open volume", reason, details)

        self.tasks.run("load", load, done, failed, on_progress=self.job_panel.progress.setValue)
        return True

    def _end_load(self) -> None:
        self.job_panel.reset()
        self._update_actions()

    @reported("Could not show the volume")
    def _set_volume(self, data: ViewerData) -> bool:
        """Show a volume prepared by `state.prepare_viewer_data`; if that fails, an empty window
        (never half of a volume)."""
        try:
            return self._show_volume(data)
        except Exception:
            self.session.set_volume(None)
            self._show_empty_state()
            raise

    def _show_volume(self, data: ViewerData) -> bool:
        self.cancel_volume()
        volume, as_noisy = data.volume, data.mode == MODE_NOISY
        self.session.set_volume(data)
        self.compare.set_histogram(*data.histogram)
        self.compare.set_levels(*data.levels)
        self._update_residual_level()

        if volume.path is not None:
            self._add_recent(volume.path)
            self.remember("files/lastDir", str(volume.path.parent))
        name = volume.path.name if volume.path is not None else "volume"
        suffix = f" [volume {volume.volume_index}]" if volume.n_volumes > 1 else ""
        mode = " — real noisy scan" if as_noisy else ""
        self.setWindowTitle(f"{name}{suffix}{mode} — MRI Denoise")
        self.panes["noisy"].title.setText("Noisy (scan)" if as_noisy else "Noisy")

        geom = data.geometry(self.session.axis)
        index = self._initial_slice if self._initial_slice is not None else geom.n_slices // 2
        self._initial_slice = None
        self.session.index = int(min(max(index, 0), geom.n_slices - 1))
        self.slice_controls.set_range(geom.n_slices)
        self.slice_controls.set_value(self.session.index)
        self._update_actions()
        self.panes["noisy"].show_message(None)
        info = f"{name}: {' × '.join(map(str, volume.shape))} voxels, " \
               f"{' × '.join(f'{v:g}' for v in volume.voxel_sizes)} mm, {axis_codes(volume.affine)}, {volume.dtype}"
        self.statusBar().showMessage(info + ("; " + "; ".join(volume.warnings) if volume.warnings else ""), 15_000)
        self.refresh()  # the ground truth shows at once, even while a big noisy volume is made
        self.compare.reset_view()  # fit the new volume: never the previous one's field of view
        if not as_noisy:
            self.apply_noise(self.noise_controls.settings())
        self.volumeLoaded.emit()
        return True

    def cancel_load(self) -> None:
        """Stop a background load (the file is read in chunks, so within a fraction of a second)."""
        if self.tasks.cancel("load"):
            self._end_load()
            self.statusBar().showMessage("Loading cancelled", 5000)

    def _on_attach_triggered(self) -> None:
        path = self._ask_open_path("Attach reference (clean) volume")
        if path:
            self.attach_reference(path)

    @reported("Could not attach the reference")
    def attach_reference(self, path) -> bool:
        """Give a real noisy scan a clean reference of the same grid, so metrics can be shown."""
        if self.session.data is None or self.session.data.mode != MODE_NOISY:
            self.show_error("Cannot attach a reference", "open a real noisy scan first (File › Open noisy scan…)")
            return False
        ref = load_volume(path)
        if ref.shape != self.session.data.volume.shape:
            self.show_error("Reference does not match",
                            f"the reference is {ref.shape}, the scan is {self.session.data.volume.shape}: they must share a grid")
            return False
        if not np.allclose(ref.affine, self.session.data.volume.affine, atol=1e-3):
            self.statusBar().showMessage("Warning: the reference's affine differs from the scan's", 10_000)
        self.session.attach_reference(ref)  # new ground truth: every score is stale
        self._update_actions()
        self.refresh()
        if self.volume_is_denoised():
            self._compute_volume_metrics()
        return True

    # -- recent files ---------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        value = self.settings.value("files/recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _add_recent(self, path: Path) -> None:
        path = str(Path(path).resolve())
        items = [p for p in self.recent_files() if p != path]
        items.insert(0, path)
        self.remember("files/recent", items[:MAX_RECENT])
        self._rebuild_recent_menu()

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        items = self.recent_files()
        for i, path in enumerate(items):
            action = self.recent_menu.addAction(f"&{(i + 1) % 10}  {Path(path).name}")
            action.setToolTip(path)
            action.setStatusTip(path)
            action.triggered.connect(lambda _c=False, p=path: self.open_file(p))
        if not items:
            self.recent_menu.addAction("(none)").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", self._on_clear_recent_triggered)

    def _on_clear_recent_triggered(self) -> None:
        self.remember("files/recent", [])
        self._rebuild_recent_menu()

    # -- drag and drop --------------------------------------------------------------------
    def _dropped_path(self, event) -> str | None:
        mime = event.mimeData()
        if mime is None or not mime.hasUrls():
            return None
        for url in mime.urls():
            if url.isLocalFile() and has_nifti_suffix(url.toLocalFile()):
                return url.toLocalFile()
        return None

    def dragEnterEvent(self, event) -> None:
        if self._dropped_path(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:
        path = self._dropped_path(event)
        if path:
            event.acceptProposedAction()
            as_noisy = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
            QTimer.singleShot(0, lambda: self.open_file(path, as_noisy=as_noisy))

    @reported("Could not export", None)
    def _ask_and_export(self, kind: str) -> None:
        """File › Export denoised / noisy volume: ask where (next to the input), then export."""
        if self.session.data is None:
            return
        path = self._ask_save_path(f"Export {kind} volume", suggest_export_path(self.session.data.volume, kind))
        if path:
            self.export_volume(kind, path)

    @reported("Could not export")
    def export_volume(self, kind: str, path) -> bool:
        """Write the denoised (or noisy) volume in original units; denoise the volume first if needed."""
        path = Path(path)
        if self.session.data is None:
            self.show_error("Nothing to export", "open a volume first")
            return False
        if not has_nifti_suffix(path):
            path = path.with_name(path.name + ".nii.gz")
        src = self.session.data.volume.path
        if src is not None and (path.resolve() == Path(src).resolve()
                                or (path.exists() and os.path.samefile(path, src))):
            self.show_error("Export refused", f"{path.name} is the opened file: choose another name")
            return False
        if kind == "denoised" and not self.volume_is_denoised():
            self.session.pending_export = (kind, path)
            if not self.denoise_volume():
                self.session.pending_export = None
                return False
            return True
        self._write_export(kind, path)
        return True

    @reported("Could not export", None)
    def _write_export(self, kind: str, path: Path) -> None:
        data = self.session.data
        if export_source01(data, kind) is None:
            self.show_error("Nothing to export", f"there is no {kind} volume yet")
            return
        sidecar = build_sidecar(data, kind, self.session.noise, self.session.model if kind == "denoised" else None,
                                self.session.denoised_axis)
        self.statusBar().showMessage(f"Writing {path.name}…")

        def done(written):
            self.statusBar().showMessage(f"Exported {kind} volume to {written}", 10_000)
            self.remember("files/lastExportDir", str(Path(written).parent))
            self.exportFinished.emit(str(written))

        self.tasks.run(f"export {path}", lambda state: write_export(data, kind, path, sidecar), done,
                       lambda r, d: self.show_error(f"Could not export the {kind} volume", r, d))
