"""How a slice should look on screen: the closest canonical (RAS) orientation, no resampling.

Radiological convention for axial and coronal views (the patient's right on the screen's
left, as ITK-SNAP and scanner consoles show it), anterior on the left for sagittal.
Only flips and transposes are used, so a displayed slice is a view of the file's voxels and
every screen pixel maps back to one voxel index.
"""

from __future__ import annotations

import numpy as np
from nibabel.orientations import io_orientation

AXIS_NAMES = ("axial", "coronal", "sagittal")
VOXEL_ORDER = np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0]])  # file axes taken as R, A, S

# For each view: the RAS axis it slices through, and for screen rows / columns the RAS axis
# they run along and the direction (+1 toward R/A/S, -1 away) as the index grows.
_VIEWS = {
    "axial": {"through": 2, "row": (1, -1), "col": (0, -1), "labels": ("A", "P", "R", "L")},
    "coronal": {"through": 1, "row": (2, -1), "col": (0, -1), "labels": ("S", "I", "R", "L")},
    "sagittal": {"through": 0, "row": (2, -1), "col": (1, -1), "labels": ("S", "I", "A", "P")},
}


def affine_problem(affine) -> str | None:
    """Why an affine cannot orient the display (all zero, NaN, collinear axes), or None."""
    matrix = np.asarray(affine, dtype=np.float64)
    if matrix.shape != (4, 4) or not np.isfinite(matrix).all():
        return "the affine is missing or not finite"
    if not np.any(matrix[:3, :3]):
        return "the affine is all zero"
    try:
        ornt = io_orientation(matrix)
    except Exception:  # nibabel raises for some degenerate matrices
        ornt = None
    if ornt is None or not np.isfinite(ornt).all():
        return "the affine has no usable axes"
    return None


def orientation_warning(affine) -> str | None:
    """The line a volume's warnings get when its display falls back to the voxel axes."""
    problem = affine_problem(affine)
    return None if problem is None else f"{problem}: shown in voxel order, orientation unknown"


def display_orientation(affine) -> np.ndarray:
    """Per file axis (RAS axis, +-1); the voxel axes themselves when the affine is unusable."""
    return VOXEL_ORDER.copy() if affine_problem(affine) is not None else io_orientation(affine)


def axis_codes(affine) -> str:
    """'RAS', 'LPI', ... for a status line; '???' when the affine says nothing."""
    if affine_problem(affine) is not None:
        return "???"
    return "".join("RAS"[int(a)] if s > 0 else "LPI"[int(a)] for a, s in io_orientation(affine))


class SliceGeometry:
    """Maps display (slice index, row, col) <-> file voxel indices for one view axis."""

    def __init__(self, shape, affine, axis_name: str):
        if axis_name not in _VIEWS:
            raise ValueError(f"unknown axis {axis_name!r}; choose one of {', '.join(AXIS_NAMES)}")
        self.shape = tuple(int(s) for s in shape[:3])
        self.affine = np.asarray(affine, dtype=np.float64)
        self.axis_name = axis_name
        view = _VIEWS[axis_name]
        known = affine_problem(self.affine) is None
        ornt = display_orientation(self.affine)  # per file axis: (RAS axis, +-1)
        ras_to_file = {int(ras): (f, int(sign)) for f, (ras, sign) in enumerate(ornt)}
        self.file_axis, self._through_sign = ras_to_file[view["through"]]
        self._row_axis, row_sign = ras_to_file[view["row"][0]]
        self._col_axis, col_sign = ras_to_file[view["col"][0]]
        self._row_flip = row_sign != view["row"][1]
        self._col_flip = col_sign != view["col"][1]
        top, bottom, left, right = view["labels"]
        self.labels = {"top": top, "bottom": bottom, "left": left, "right": right}
        if not known:  # letters would be made up
            self.labels = dict.fromkeys(self.labels, "")
        zooms = np.sqrt((np.nan_to_num(self.affine[:3, :3]) ** 2).sum(axis=0))
        zooms = np.where(zooms > 0, zooms, 1.0)  # a zero column: one unit per voxel
        self.pixel_size = (float(zooms[self._row_axis]), float(zooms[self._col_axis]))
        self.slice_thickness = float(zooms[self.file_axis])

    @property
    def n_slices(self) -> int:
        return self.shape[self.file_axis]

    @property
    def image_shape(self) -> tuple[int, int]:
        return self.shape[self._row_axis], self.shape[self._col_axis]

    def file_index(self, index: int) -> int:
        """Display index 0 is the most inferior / posterior / left slice."""
        n = self.n_slices
        if not 0 <= index < n:
            raise IndexError(f"slice {index} out of range 0..{n - 1}")
        return index if self._through_sign > 0 else n - 1 - index

    def index_for_voxel(self, ijk) -> int:
        f = int(ijk[self.file_axis])
        return f if self._through_sign > 0 else self.n_slices - 1 - f

    def extract(self, data: np.ndarray, index: int) -> np.ndarray:
        """The displayed 2D slice (row 0 at the top); a view into `data`, not a copy."""
        return self._view(data, index)

    def _view(self, data: np.ndarray, index: int) -> np.ndarray:
        idx: list = [slice(None)] * 3
        idx[self.file_axis] = self.file_index(index)
        plane = data[tuple(idx)]
        # remaining file axes in order; decide whether rows come first
        remaining = [a for a in range(3) if a != self.file_axis]
        if remaining.index(self._row_axis) != 0:
            plane = plane.T
        if self._row_flip:
            plane = plane[::-1, :]
        if self._col_flip:
            plane = plane[:, ::-1]
        return plane

    def insert(self, data: np.ndarray, index: int, image: np.ndarray) -> None:
        """Write a displayed slice back into the file-ordered volume."""
        self._view(data, index)[...] = image

    def voxel(self, index: int, row: int, col: int) -> tuple[int, int, int]:
        nrows, ncols = self.image_shape
        ijk = [0, 0, 0]
        ijk[self.file_axis] = self.file_index(index)
        ijk[self._row_axis] = nrows - 1 - row if self._row_flip else row
        ijk[self._col_axis] = ncols - 1 - col if self._col_flip else col
        return tuple(int(v) for v in ijk)  # type: ignore[return-value]

    def position(self, ijk) -> tuple[int, int, int]:
        """The inverse of `voxel`: (slice index, row, col) where file voxel `ijk` is displayed."""
        nrows, ncols = self.image_shape
        row, col = int(ijk[self._row_axis]), int(ijk[self._col_axis])
        return (self.index_for_voxel(ijk), nrows - 1 - row if self._row_flip else row,
                ncols - 1 - col if self._col_flip else col)

    def world(self, index: int, row: int, col: int) -> tuple[float, float, float]:
        ijk = np.array(list(self.voxel(index, row, col)) + [1.0])
        xyz = self.affine @ ijk
        return float(xyz[0]), float(xyz[1]), float(xyz[2])
