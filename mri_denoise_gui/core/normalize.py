"""Map intensities to [0, 1] and back, so noise levels and metrics mean the same on every scan.

Robust percentiles (0.5 / 99.5) by default so a few hot voxels don't squash the contrast;
min-max as the tutorial did. The fitted bounds travel as JSON (in sidecars and model.json).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

METHODS = ("percentile", "minmax")


@dataclass(frozen=True)
class Normalizer:
    method: str = "percentile"
    low: float = 0.5
    high: float = 99.5
    vmin: float | None = None
    vmax: float | None = None

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown normalisation {self.method!r}; choose one of {', '.join(METHODS)}")
        if not 0.0 <= self.low < self.high <= 100.0:
            raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got {self.low}, {self.high}")

    @property
    def fitted(self) -> bool:
        return self.vmin is not None and self.vmax is not None

    def fit(self, data: np.ndarray) -> "Normalizer":
        """A copy with bounds measured on `data` (NaN-safe, constant-safe)."""
        values = np.asarray(data, dtype=np.float32)
        values = values[np.isfinite(values)]
        if values.size == 0:
            return replace(self, vmin=0.0, vmax=1.0)
        lo, hi = float(values.min()), float(values.max())
        if self.method == "percentile":
            plo, phi = (float(v) for v in np.percentile(values, [self.low, self.high]))
            if phi > plo:  # a mostly-empty volume can have equal percentiles: fall back to min-max
                lo, hi = plo, phi
        return replace(self, vmin=lo, vmax=hi)

    def _bounds(self) -> tuple[float, float]:
        if not self.fitted:
            raise ValueError("Normalizer is not fitted: call fit(data) first")
        return float(self.vmin), float(self.vmax)  # type: ignore[arg-type]

    @property
    def scale(self) -> float:
        lo, hi = self._bounds()
        return hi - lo if hi > lo else 1.0

    def forward(self, x: np.ndarray, clip: bool = True) -> np.ndarray:
        lo, _ = self._bounds()
        out = (np.asarray(x, dtype=np.float32) - np.float32(lo)) / np.float32(self.scale)
        if clip:
            np.clip(out, 0.0, 1.0, out=out)
        return out.astype(np.float32, copy=False)

    def inverse(self, x01: np.ndarray) -> np.ndarray:
        lo, _ = self._bounds()
        return (np.asarray(x01, dtype=np.float32) * np.float32(self.scale) + np.float32(lo)).astype(np.float32)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Normalizer":
        known = {k: d[k] for k in ("method", "low", "high", "vmin", "vmax") if k in d}
        return cls(**known)
