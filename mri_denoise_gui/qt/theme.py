"""A dark Fusion palette: images read best on a dark surround (as on a reading-room monitor)."""

from __future__ import annotations

from PyQt6.QtGui import QColor, QPalette
from PyQt6.QtWidgets import QApplication

_COLORS = {
    QPalette.ColorRole.Window: "#23262b",
    QPalette.ColorRole.WindowText: "#e6e6e6",
    QPalette.ColorRole.Base: "#1a1c20",
    QPalette.ColorRole.AlternateBase: "#262a30",
    QPalette.ColorRole.ToolTipBase: "#2e3238",
    QPalette.ColorRole.ToolTipText: "#f0f0f0",
    QPalette.ColorRole.Text: "#e6e6e6",
    QPalette.ColorRole.Button: "#2d3137",
    QPalette.ColorRole.ButtonText: "#e6e6e6",
    QPalette.ColorRole.BrightText: "#ff6b6b",
    QPalette.ColorRole.Highlight: "#3d7bd9",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#6fa8ff",
    QPalette.ColorRole.PlaceholderText: "#8a9099",
}


def apply_dark_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    palette = QPalette()
    for role, color in _COLORS.items():
        palette.setColor(role, QColor(color))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6c727a"))
    app.setPalette(palette)
    app.setStyleSheet(
        "QGroupBox { font-weight: bold; border: 1px solid #3a3f46; border-radius: 4px; margin-top: 14px;"
        " padding-top: 6px; }"
        "QGroupBox::title { subcontrol-origin: margin; left: 8px; padding: 0 4px; color: #cfd3d8; }"
        "QGroupBox QLabel, QGroupBox QCheckBox { font-weight: normal; }"
        "QStatusBar { color: #cfd3d8; }"
        "QProgressBar { border: 1px solid #3a3f46; border-radius: 3px; text-align: center; height: 18px; }"
        "QProgressBar::chunk { background: #3d7bd9; }"
    )
