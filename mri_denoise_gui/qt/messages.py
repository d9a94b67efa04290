"""Non-blocking message boxes: opened, never exec'd, so no worker or test waits on them."""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QMessageBox, QWidget


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
