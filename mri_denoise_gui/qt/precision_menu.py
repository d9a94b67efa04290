"""Model › Precision: the inference precision setting (QSettings ``model/precision``).

"Automatic" lets the worker pick what the hardware computes natively (bfloat16 on CPUs with
avx512_bf16 / amx_bf16, float16 on GPUs with tensor cores, else float32; ml/precision.py);
the others force one, e.g. float32 to reproduce results bit for bit.
"""

from __future__ import annotations

from typing import Callable

from PyQt6.QtCore import QSettings
from PyQt6.QtGui import QAction, QActionGroup
from PyQt6.QtWidgets import QMenu

SETTING = "model/precision"
CHOICES = (("auto", "&Automatic (fastest the hardware computes natively)"),
           ("float32", "&float32 (exact)"), ("bfloat16", "&bfloat16"), ("float16", "float&16 (GPU)"))


def saved_precision(settings: QSettings) -> str:
    value = str(settings.value(SETTING, "auto"))
    return value if value in dict(CHOICES) else "auto"


def add_precision_menu(parent: QMenu, settings: QSettings, on_changed: Callable[[str], None]) -> QActionGroup:
    """A Precision submenu of radio items; picking one saves it and calls ``on_changed(value)``."""
    menu = parent.addMenu("&Precision")
    group = QActionGroup(menu)
    group.setExclusive(True)
    current = saved_precision(settings)
    for value, text in CHOICES:
        action = QAction(text, menu, checkable=True)
        action.setData(value)
        action.setChecked(value == current)
        group.addAction(action)
        menu.addAction(action)

    def picked(action: QAction) -> None:
        value = str(action.data())
        settings.setValue(SETTING, value)
        on_changed(value)

    group.triggered.connect(picked)
    return group
