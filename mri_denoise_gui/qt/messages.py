"""How the window reports trouble: non-blocking message boxes and actions that never raise.

Boxes are opened, never exec'd, so no worker or test waits on them.
"""

from __future__ import annotations

import functools
import sys

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QMessageBox, QWidget

from mri_denoise_gui import errors_log


def open_box(
    parent: QWidget,
    registry: list[QMessageBox],
    object_name: str,
    title: str,
    text: str,
    *,
    icon: QMessageBox.Icon = QMessageBox.Icon.Warning,
    buttons: QMessageBox.StandardButton = QMessageBox.StandardButton.Ok,
    details: str = "",
    show: bool = True,
) -> QMessageBox:
    """A box deleted on close and kept in `registry` while open (so the owner can close them all)."""
    box = QMessageBox(icon, title, text, buttons, parent)
    box.setObjectName(object_name)
    if details:
        box.setDetailedText(details)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.finished.connect(lambda _r, b=box: registry.remove(b) if b in registry else None)
    registry.append(box)
    if show:
        box.open()
    return box


def ask_stop_training(parent: QWidget, object_name: str, question: str, on_yes) -> QMessageBox:
    """Non-modal Yes / No before a running training is stopped (a run can be an hour of work);
    the box is reused while it is open, and ``on_yes()`` runs on Yes."""
    box = parent.findChild(QMessageBox, object_name)
    if box is None:
        box = QMessageBox(QMessageBox.Icon.Question, "Training is running",
                          f"{question}\nThe best model saved so far stays in its output folder.",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, parent)
        box.setObjectName(object_name)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.finished.connect(lambda result: on_yes() if result == QMessageBox.StandardButton.Yes else None)
    box.show()
    box.raise_()
    return box


def reported(title: str, failed=False):
    """Decorator for a window action: any exception becomes `show_error(title, one line)`.

    The action then returns `failed`; the window stays as it was and usable. Bugs (exceptions
    the app did not raise on purpose) get their traceback written to the log the line names.
    """

    def wrap(method):
        @functools.wraps(method)
        def run(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except Exception as exc:
                self.show_error(title, *errors_log.describe(exc, f"{title} ({method.__name__})"))
                return failed

        return run

    return wrap


def error_hook(window):
    """A `sys.excepthook` for exceptions that escape a slot anyway: a message, never an abort.

    PyQt6 aborts the process on an exception in a slot unless a hook other than the default
    is installed; this one logs the traceback and shows one line in `window`.
    """

    def hook(kind, exc, tb):
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, exc, tb)
            return
        reason, details = errors_log.describe(exc.with_traceback(tb), "uncaught")
        try:
            window.show_error("Unexpected error", reason, details)
        except Exception:  # the window itself is broken: the log already has the traceback
            pass

    return hook
