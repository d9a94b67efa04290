"""A number box that says when it changed what was typed, instead of silently dropping it."""

from __future__ import annotations

import math

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtGui import QValidator
from PyQt6.QtWidgets import QDoubleSpinBox


class ClampingSpinBox(QDoubleSpinBox):
    """A spin box that takes a typed value beyond its range to the nearest bound, and says so.

    Qt's own box refuses the keystroke that leaves the range, so typing 0.3 under a maximum
    of 0.25 silently left "0." and became 0. Here 0.3 becomes 0.25 and `clamped(typed, used)`
    is emitted, so the window can tell the user.
    """

    clamped = pyqtSignal(float, float)

    def _typed(self, text: str) -> float | None:
        text = text.removeprefix(self.prefix()).removesuffix(self.suffix()).strip()
        value, ok = self.locale().toDouble(text)
        return value if ok and math.isfinite(value) else None

    def validate(self, text: str, pos: int):
        state, text, pos = super().validate(text, pos)
        value = self._typed(text)
        if state == QValidator.State.Invalid and value is not None and not self.minimum() <= value <= self.maximum():
            state = QValidator.State.Intermediate  # keep what was typed; fixup clamps it
        return state, text, pos

    def fixup(self, text: str) -> str:
        value = self._typed(text)
        if value is None or self.minimum() <= value <= self.maximum():
            return super().fixup(text)
        used = min(max(value, self.minimum()), self.maximum())
        self.clamped.emit(value, used)
        return self.textFromValue(used)
