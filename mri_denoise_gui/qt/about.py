"""Help > About: the app icon, and the versions of everything the app runs on.

Versions come from installed package metadata (``importlib.metadata``), so building the About
box never imports TensorFlow or Keras: it is cheap on the GUI thread even before the inference
worker has loaded TensorFlow. The device is whatever the worker reported (``None`` until then).
"""

from __future__ import annotations

import html
import platform
from importlib import metadata
from pathlib import Path

from PyQt6.QtCore import PYQT_VERSION_STR, QT_VERSION_STR, QSize, Qt
from PyQt6.QtGui import QIcon
from PyQt6.QtWidgets import QMessageBox, QWidget

from mri_denoise_gui import __version__
from mri_denoise_gui.resources import icons_dir

APP_NAME = "MRI Denoise"
ICON_NAME = "mri-denoise-gui"
ICON_SIZES = (16, 32, 48, 64, 128, 256, 512)
APP_LICENSE = "BSD-3-Clause"

# Distribution names to try, first found wins (TensorFlow ships under several names).
_DISTRIBUTIONS = {
    "TensorFlow": ("tensorflow", "tensorflow-cpu", "tensorflow-intel", "tensorflow-macos", "tf-nightly"),
    "Keras": ("keras", "keras-nightly"),
    "pyqtgraph": ("pyqtgraph",),
    "nibabel": ("nibabel",),
    "NumPy": ("numpy",),
    "scikit-image": ("scikit-image",),
}

DATA_LICENSE_HTML = (
    "The demo volume and the bundled models are derived from the MNI ICBM 2009a Nonlinear "
    "Symmetric T1 template (the models were trained only on images synthesised from it). "
    "Template &copy; 1993&ndash;2009 Louis Collins, McConnell Brain Imaging Centre, Montreal "
    "Neurological Institute, McGill University; permission to use, copy, modify and distribute "
    "is granted provided the copyright notice appears in all copies (see "
    "<code>demo/LICENSE-MNI152.txt</code> in the app's resources). "
    f"The application itself is {APP_LICENSE}."
)


def package_version(label: str) -> str:
    """The installed version of one of the packages in the About box, or "not installed"."""
    for dist in _DISTRIBUTIONS.get(label, (label,)):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


def versions(device: str | None = None) -> list[tuple[str, str]]:
    """(label, value) rows shown in the About box, in order."""
    rows = [
        (APP_NAME, __version__),
        ("Python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("TensorFlow", package_version("TensorFlow")),
        ("Keras", package_version("Keras")),
        ("Qt", f"{QT_VERSION_STR} (PyQt6 {PYQT_VERSION_STR})"),
    ]
    rows += [(label, package_version(label)) for label in ("pyqtgraph", "nibabel", "NumPy", "scikit-image")]
    rows.append(("System", f"{platform.system()} {platform.machine()}".strip()))
    rows.append(("Device", device or "not known yet (TensorFlow loads in the background)"))
    return rows


def about_html(device: str | None = None) -> str:
    """The About box's rich text: what the app is, the versions table, the licences."""
    table = "".join(
        f"<tr><td><b>{html.escape(label)}</b></td><td>&nbsp;&nbsp;{html.escape(value)}</td></tr>"
        for label, value in versions(device)
    )
    return (
        f"<h3>{APP_NAME} {html.escape(__version__)}</h3>"
        "<p>Add realistic noise to MRI volumes, denoise them with a convolutional network and "
        "compare noisy, denoised and ground-truth slices with SSIM and PSNR.<br>"
        "A research tool, not a medical device.</p>"
        f"<table>{table}</table>"
        f"<p><small>{DATA_LICENSE_HTML}</small></p>"
    )


def icon_files() -> list[Path]:
    """The icon files that exist: the scalable SVG first, then the PNG sizes."""
    folder = icons_dir()
    files = [folder / f"{ICON_NAME}.svg"] + [folder / f"{ICON_NAME}-{n}.png" for n in ICON_SIZES]
    return [f for f in files if f.is_file()]


def app_icon() -> QIcon:
    """The application icon with every bundled size (a null QIcon if the files are missing).

    The SVG goes in first so that Qt picks its SVG icon engine (which also takes the PNGs,
    used as-is at their own sizes); without the SVG plugin the PNGs alone still work.
    """
    icon = QIcon()
    for path in icon_files():
        if path.suffix == ".png":
            size = int(path.stem.rsplit("-", 1)[1])
            icon.addFile(str(path), QSize(size, size))
        else:
            icon.addFile(str(path))
    return icon


def about_box(parent: QWidget | None = None, device: str | None = None) -> QMessageBox:
    """The About box, not yet shown (tests inspect it; :func:`show_about` runs it)."""
    box = QMessageBox(parent)
    box.setWindowTitle(f"About {APP_NAME}")
    box.setTextFormat(Qt.TextFormat.RichText)
    box.setText(about_html(device))
    icon = parent.windowIcon() if parent is not None and not parent.windowIcon().isNull() else app_icon()
    box.setWindowIcon(icon)
    if not icon.isNull():
        box.setIconPixmap(icon.pixmap(QSize(96, 96)))
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    return box


def show_about(parent: QWidget | None = None, device: str | None = None) -> None:
    """Help > About: a modal about box with the app icon, like ``QMessageBox.about``."""
    about_box(parent, device).exec()
