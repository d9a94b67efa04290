"""Regions of interest as data: what the window draws as pyqtgraph ROIs, as JSON for a file.

Why: a researcher measures the same region on several scans, models or sessions. An ROI is kept
as the panes draw it, in millimetres of the view of one axis (so it lands on the same anatomy of
a volume with other voxel sizes on the same grid), with the pane it was drawn on.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from mri_denoise_gui.core.orientation import AXIS_NAMES

KINDS = ("rect", "ellipse", "line")
FORMAT = "mri-denoise-gui regions of interest"
VERSION = 1


@dataclass(frozen=True)
class RoiSpec:
    """``pos`` is the corner (x, y) and ``size`` the (width, height) in view mm, as pyqtgraph's ROI
    reports them; for a line, its first end and the step to the second."""

    kind: str
    pane: str
    axis: str
    pos: tuple[float, float]
    size: tuple[float, float]

    def to_dict(self) -> dict:
        return {"kind": self.kind, "pane": self.pane, "axis": self.axis, "pos": list(self.pos), "size": list(self.size)}


def _pair(value, what: str, index: int) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"ROI {index + 1}: {what} must be two numbers")
    try:
        out = (float(value[0]), float(value[1]))
    except (TypeError, ValueError):
        raise ValueError(f"ROI {index + 1}: {what} must be two numbers") from None
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"ROI {index + 1}: {what} must be finite")
    return out


def rois_to_json(specs: list[RoiSpec]) -> str:
    return json.dumps({"format": FORMAT, "version": VERSION, "rois": [s.to_dict() for s in specs]}, indent=2) + "\n"


def rois_from_json(text: str) -> list[RoiSpec]:
    """The ROIs of a file written by `rois_to_json`; ValueError with a one-line reason otherwise."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not a JSON file ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError("not a regions-of-interest file of this program")
    if doc.get("version") != VERSION:
        raise ValueError(f"ROI file version {doc.get('version')!r} is not one this program reads ({VERSION})")
    items = doc.get("rois")
    if not isinstance(items, list):
        raise ValueError("the file holds no list of ROIs")
    specs = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"ROI {i + 1} is not an object")
        kind, axis, pane = item.get("kind"), item.get("axis"), item.get("pane")
        if kind not in KINDS:
            raise ValueError(f"ROI {i + 1}: unknown kind {kind!r} (rect, ellipse or line)")
        if axis not in AXIS_NAMES:
            raise ValueError(f"ROI {i + 1}: unknown axis {axis!r}")
        if not isinstance(pane, str) or not pane:
            raise ValueError(f"ROI {i + 1}: no pane")
        size = _pair(item.get("size"), "size", i)
        if kind != "line" and (size[0] <= 0 or size[1] <= 0):
            raise ValueError(f"ROI {i + 1}: a {kind} needs a positive width and height")
        specs.append(RoiSpec(kind, pane, axis, _pair(item.get("pos"), "pos", i), size))
    return specs
