"""Editors bound to `TrainingConfig` fields: made, labelled and bound in one call each.

Why: the training form shows a dozen kinds of rows, but reading and showing values, marking
errors and blocking signals is the same for all of them. Each editor registers a getter and a
setter for its field (`_bind`); `values()` and `set_values()` walk those bindings, and labels,
tool tips and choice lists come from the field table in `ml/training_config.py`.
"""

from __future__ import annotations

from typing import Any, Callable

from PyQt6.QtCore import QSignalBlocker, Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QListWidget, QPushButton,
    QRadioButton, QSpinBox, QVBoxLayout, QWidget,
)

from mri_denoise_gui.ml.training_config import FIELD_NAMES, defaults, field_info

INVALID_STYLE = "border: 1px solid #e05d5d; border-radius: 2px;"
ERROR_STYLE = "color: #ff8a80; font-size: 11px;"
EDITOR_TYPES = (QPushButton, QComboBox, QSpinBox, QDoubleSpinBox, QLineEdit, QRadioButton, QCheckBox, QListWidget)


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def error_label(field: str) -> QLabel:
    label = QLabel()
    label.setObjectName(f"error_{field}")
    label.setStyleSheet(ERROR_STYLE)
    label.setWordWrap(True)
    label.setVisible(False)
    return label


def line(*widgets, stretch: int | None = None) -> QWidget:
    """Widgets side by side in one row (strings become labels); ``stretch``: which one grows."""
    row = QWidget()
    h = QHBoxLayout(row)
    h.setContentsMargins(0, 0, 0, 0)
    for i, w in enumerate(widgets):
        h.addWidget(QLabel(w) if isinstance(w, str) else w, 1 if i == stretch else 0)
    return row


def select(combo: QComboBox, value) -> None:
    if value is None:
        return
    index = combo.findData(value)
    if index < 0:  # a value the list does not have (an old setting): shown, and validate() explains it
        combo.addItem(str(value), value)
        index = combo.count() - 1
    combo.setCurrentIndex(index)


def make_buttons(owner, *specs) -> list[QPushButton]:
    """Push buttons from (attribute, text, objectName, slot) rows, each also set on ``owner``."""
    made = []
    for attr, text, name, slot in specs:
        button = QPushButton(text)
        button.setObjectName(name)
        button.clicked.connect(slot)
        setattr(owner, attr, button)
        made.append(button)
    return made


class ConfigEditors(QWidget):
    """A widget of bound field editors; emits `configChanged` on user edits (never on `set_values`)."""

    configChanged = pyqtSignal()
    #: fields that share a row (and its error label) with another: their reasons say which is meant
    SHARED_ROW_NAMES: dict[str, str] = {}

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.error_labels: dict[str, QLabel] = {}
        self.editors: dict[str, QWidget] = {}
        self._bindings: dict[str, tuple[Callable[[], Any], Callable[[Any], None]]] = {}

    @property
    def FIELDS(self) -> tuple[str, ...]:  # noqa: N802 - the config fields this form owns
        return tuple(self._bindings)

    # -- building blocks: each editor is made and bound to its field in one call ------------------
    def _bind(self, field: str, get: Callable[[], Any], put: Callable[[Any], None]) -> None:
        self._bindings[field] = (get, put)

    def _row(self, form: QFormLayout, field: str, editor: QWidget, tip: str | None = None,
             label: str | None = None) -> None:
        """A labelled row with its error label; label and tip default to the field table's."""
        info = field_info(field)
        box = QWidget()
        v = QVBoxLayout(box)
        v.setContentsMargins(0, 0, 0, 0)
        v.setSpacing(1)
        v.addWidget(editor)
        self.error_labels[field] = error_label(field)
        v.addWidget(self.error_labels[field])
        if tip or info["help"]:
            editor.setToolTip(tip or info["help"])
        self.editors.setdefault(field, editor)
        form.addRow(info["label"] if label is None else label, box)

    def _share_row(self, field: str, with_field: str, editor: QWidget) -> None:
        """``field`` is edited in ``with_field``'s row: one error label, its own red frame."""
        self.error_labels[field] = self.error_labels[with_field]
        self.editors[field] = editor

    @staticmethod
    def _form(group: QWidget | None = None) -> QFormLayout:
        form = QFormLayout(group) if group is not None else QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        form.setHorizontalSpacing(8)
        form.setVerticalSpacing(4)
        return form

    def _combo(self, field: str, name: str, items=None, bind: bool = True) -> QComboBox:
        info = field_info(field)
        combo = QComboBox()
        combo.setObjectName(name)
        for item in items or info["choices"]:
            combo.addItem(info["labels"].get(item, item), item)
        combo.currentIndexChanged.connect(self._on_value_changed)
        if bind:
            self._bind(field, lambda: combo.currentData() or combo.currentText(), lambda v: select(combo, v))
        return combo

    def _spin(self, name: str, lo: int, hi: int, step: int = 1, suffix: str = "", field: str | None = None,
              scale: int = 1) -> QSpinBox:
        """An integer box; bound to ``field`` when given (shown ``scale`` times the config's value)."""
        spin = QSpinBox()
        spin.setRange(lo, hi)
        self._setup(spin, name, step, suffix)
        if field:
            get = (lambda: round(spin.value() / scale, 4)) if scale != 1 else spin.value
            self._bind(field, get, lambda v: is_number(v) and spin.setValue(int(round(v * scale))))
        return spin

    def _dspin(self, name: str, lo: float, hi: float, step: float, decimals: int, suffix: str = "",
               field: str | None = None) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(lo, hi)
        spin.setDecimals(decimals)
        self._setup(spin, name, step, suffix)
        if field:
            self._bind(field, lambda: round(spin.value(), decimals), lambda v: is_number(v) and spin.setValue(v))
        return spin

    def _setup(self, spin, name: str, step, suffix: str) -> None:
        spin.setObjectName(name)
        spin.setSingleStep(step)
        spin.setSuffix(suffix)
        spin.setKeyboardTracking(False)
        spin.valueChanged.connect(self._on_value_changed)

    def _check(self, field: str, name: str, text: str, on: Any = True, off: Any = False) -> QCheckBox:
        """A box that sets ``field`` to ``on`` or ``off`` (a value counts as on when truthy)."""
        box = QCheckBox(text)
        box.setObjectName(name)
        box.toggled.connect(self._on_value_changed)
        self._bind(field, lambda: on if box.isChecked() else off, lambda v: box.setChecked(bool(v) and v != off))
        return box

    def generated_rows(self, form: QFormLayout) -> list[str]:
        """A row for every labelled field that no hand-made editor shows yet, made from the field
        table alone (choices: a list; yes/no: a box; numbers: a spin box; text: a line): so a new
        option declared in `ml/training_config.py` with a label is in the form without more code."""
        made = []
        for name in FIELD_NAMES:
            info = field_info(name)
            if not info["label"] or name in self._bindings:
                continue
            default = defaults()[name]
            if info["choices"]:
                editor = self._combo(name, f"{name}Combo")
            elif isinstance(default, bool):
                editor = self._check(name, f"{name}Check", info["help"] or info["label"])
            elif isinstance(default, int):
                editor = self._spin(f"{name}Spin", info["whole"] or 0, 1_000_000, field=name)
            elif isinstance(default, float):
                editor = self._dspin(f"{name}Spin", 0.0, 1e6, 0.01, 4, field=name)
            else:
                editor = QLineEdit(str(default or ""))
                editor.setObjectName(f"{name}Edit")
                editor.textEdited.connect(self._on_value_changed)
                self._bind(name, editor.text, lambda v, e=editor: e.setText("" if v is None else str(v)))
            self._row(form, name, editor)
            made.append(name)
        return made

    def values(self) -> dict:
        """The fields this form owns, as `TrainingConfig` wants them."""
        return {field: get() for field, (get, _) in self._bindings.items()}

    def set_values(self, config: dict) -> None:
        """Show ``config`` without emitting `configChanged` (signals blocked)."""
        blockers = [QSignalBlocker(w) for w in self.findChildren(EDITOR_TYPES)]
        try:
            for field, (_, put) in self._bindings.items():
                if field in config:
                    put(config[field])
        finally:
            del blockers
        self._after_set_values()

    def _after_set_values(self) -> None:
        """What a subclass updates once values are shown (enabled states, derived labels)."""

    def set_errors(self, errors: dict) -> None:
        """Mark each invalid field with its reason; reasons with no editor go to the bottom."""
        shown: dict[QLabel, list[str]] = {label: [] for label in self.error_labels.values()}
        other = []
        for field, reason in errors.items():
            label = self.error_labels.get(field)
            if label is None:
                other.append(f"{field.replace('_', ' ')}: {reason}")
            else:
                shown[label].append(f"{self.SHARED_ROW_NAMES[field]}: {reason}" if field in self.SHARED_ROW_NAMES else reason)
        for label, reasons in shown.items():
            label.setText("; ".join(dict.fromkeys(reasons)))
            label.setVisible(bool(reasons))
        for field, editor in self.editors.items():
            editor.setStyleSheet(INVALID_STYLE if field in errors else "")
            editor.setProperty("invalid", field in errors)
        self.other_errors.setText("\n".join(other))
        self.other_errors.setVisible(bool(other))

    def _on_value_changed(self, *_args) -> None:
        self.configChanged.emit()
