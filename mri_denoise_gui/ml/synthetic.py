"""Synthetic training slices from the MNI152 tissue maps, so one template teaches many scanners.

A network trained on the smooth, skull-stripped template alone darkens low-intensity tissue and
blanks backgrounds on real scans. Here every slice gets random tissue intensities (T1, T2, PD,
EPI-like or arbitrary contrast), sub-tissue texture, an optional skull and scalp, a background
(zero, noise floor, stray structures), a bias field, gamma, blur and a random resolution
(0.7 to 4 mm: matrix sizes from ~50 to ~280), then is normalised with the core Normaliser
using random percentiles. Numpy/scipy only; nilearn's files are needed at training time only.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from mri_denoise_gui.core.normalize import Normalizer

CONTRASTS = ("t1", "t2", "pd", "epi", "flair", "random", "template")
_CONTRAST_WEIGHTS = (0.22, 0.2, 0.12, 0.12, 0.08, 0.14, 0.12)


def mni_map_paths() -> dict[str, Path]:
    """Paths of nilearn's bundled MNI152 2009a T1, GM and WM maps (without importing nilearn)."""
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("nilearn is not installed: `pip install nilearn` (the demo extra)")
    data = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"
    paths = {k: data / f"mni_icbm152_{k}_tal_nlin_sym_09a_converted.nii.gz" for k in ("t1", "gm", "wm")}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"nilearn's MNI152 maps are missing: {', '.join(missing)}")
    return paths


@dataclass
class TissueMaps:
    """The template's T1 plus GM/WM/CSF probabilities in [0, 1] and a brain mask, 1 mm."""

    t1: np.ndarray
    gm: np.ndarray
    wm: np.ndarray
    csf: np.ndarray
    brain: np.ndarray

    @classmethod
    def load(cls) -> "TissueMaps":
        import nibabel as nib

        paths = mni_map_paths()
        vol = {k: np.asarray(nib.load(str(p)).dataobj, dtype=np.float32) / 255.0 for k, p in paths.items()}
        brain = ndimage.binary_fill_holes(vol["t1"] > 0.02)
        csf = np.clip(brain.astype(np.float32) - vol["gm"] - vol["wm"], 0.0, 1.0)
        return cls(t1=vol["t1"], gm=vol["gm"], wm=vol["wm"], csf=csf, brain=brain)

    def brain_extent(self, axis: int) -> tuple[int, int]:
        """First and last slice index along ``axis`` holding a real amount of brain (cached)."""
        cache = self.__dict__.setdefault("_extent", {})
        if axis not in cache:
            profile = self.brain.sum(axis=tuple(a for a in range(3) if a != axis))
            idx = np.nonzero(profile > 0.02 * max(profile.max(), 1))[0]
            cache[axis] = (int(idx[0]), int(idx[-1])) if idx.size else (0, self.shape[axis] - 1)
        return cache[axis]

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.t1.shape

    def slab(self, start: int, stop: int) -> "TissueMaps":
        """The sub-volume with file-axis-2 (inferior-superior) index in [start, stop)."""
        cut = slice(start, stop)
        return TissueMaps(self.t1[..., cut], self.gm[..., cut], self.wm[..., cut],
                          self.csf[..., cut], self.brain[..., cut])

    def slice2d(self, axis: int, index: int) -> dict[str, np.ndarray]:
        key = (slice(None),) * axis + (index,)

        def take(a):
            return np.ascontiguousarray(a[key])

        return {"t1": take(self.t1), "gm": take(self.gm), "wm": take(self.wm),
                "csf": take(self.csf), "brain": take(self.brain)}


def _smooth_noise(rng, shape, sigma):
    field = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
    std = field.std()
    return field / std if std > 0 else field


def _tissue_means(rng, contrast):
    u = rng.uniform
    if contrast == "t1":
        wm = u(0.7, 1.0); gm = wm * u(0.55, 0.85); csf = gm * u(0.1, 0.6)
    elif contrast in ("t2", "epi"):
        csf = u(0.75, 1.0); gm = csf * u(0.4, 0.8); wm = gm * u(0.6, 0.95)
    elif contrast == "pd":
        gm = u(0.75, 1.0); wm = gm * u(0.7, 0.92); csf = gm * u(0.8, 1.15)
    elif contrast == "flair":
        gm = u(0.6, 1.0); wm = gm * u(0.6, 0.9); csf = u(0.02, 0.2)
    else:
        gm, wm, csf = u(0.05, 1.0, size=3)
    return float(gm), float(wm), float(csf)


def _sharpen(rng, s):
    """Crisper tissue boundaries than the 152-subject average: one subject's sulci and GM/WM
    borders are a voxel or two wide, and a net that only saw the template's soft edges blurs them."""
    probs = np.stack([s["gm"], s["wm"], s["csf"]]).astype(np.float32)
    powered = np.power(np.clip(probs, 1e-4, 1.0), np.float32(rng.uniform(2.0, 8.0)))
    sharp = powered / powered.sum(axis=0, keepdims=True)
    total = np.clip(probs.sum(axis=0), 0.0, 1.0)  # keep the brain's own outline
    return tuple(sharp[i] * total for i in range(3))


def _head(rng, brain2d, scale):
    """Skull-like rings around the brain: CSF gap, bone, scalp fat, in pixels of this slice."""
    outside = ~brain2d
    if not outside.any() or not brain2d.any():
        return None
    dist = ndimage.distance_transform_edt(outside).astype(np.float32)
    warp = 1.0 + 0.25 * _smooth_noise(rng, dist.shape, 12 * scale)
    dist = dist * np.clip(warp, 0.6, 1.5)
    r_bone = rng.uniform(1.5, 4) * scale
    r_marrow = r_bone + rng.uniform(1.5, 4) * scale
    r_scalp = r_marrow + rng.uniform(1.5, 4) * scale
    r_out = r_scalp + rng.uniform(2, 8) * scale
    return dist, (r_bone, r_marrow, r_scalp, r_out)


def _ellipses(rng, shape, n, ring=False):
    """Flat filled ellipses, or (``ring``) flat elliptic bands 1-8 px wide: scalp, dura and
    vessels are thin flat structures that a net which never saw one keeps noisy and darkens."""
    out = np.zeros(shape, np.float32)
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float32)
    for _ in range(n):
        cy, cx = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        big = 2.5 if ring else 5
        ry, rx = rng.uniform(3, shape[0] / big), rng.uniform(3, shape[1] / big)
        th = rng.uniform(0, np.pi)
        dy, dx = yy - cy, xx - cx
        u = dy * np.cos(th) + dx * np.sin(th)
        v = -dy * np.sin(th) + dx * np.cos(th)
        inside = (u / ry) ** 2 + (v / rx) ** 2 <= 1.0
        if ring:
            w = rng.uniform(1.0, 8.0)
            inside = ((u / (ry + w)) ** 2 + (v / (rx + w)) ** 2 <= 1.0) & ~inside
        out[inside] = rng.uniform(0.05, 1.0)
    return out


def synth_slice(maps: TissueMaps, rng: np.random.Generator, axis: int | None = None,
                contrast: str | None = None, resample=None) -> np.ndarray:
    """One synthetic 2D slice normalised to [0, 1] (float32), at a random resolution.

    ``resample(img, rng) -> img`` replaces the random 0.7-4 mm resolution step (the coarse
    domain of ``synthetic_coarse``); None keeps the original stream draw for draw."""
    if axis is None:
        axis = int(rng.integers(0, 3))
    if contrast is None:
        contrast = str(rng.choice(CONTRASTS, p=_CONTRAST_WEIGHTS))
    lo, hi = maps.brain_extent(axis)
    margin = (hi - lo) // 10  # the outermost slices are mostly partial-volume edge
    lo, hi = lo + margin, hi - margin
    index = int(rng.integers(lo, hi + 1))
    s = maps.slice2d(axis, index)
    shape = s["t1"].shape

    if contrast == "template":
        img = s["t1"].copy()
        if rng.random() < 0.5:  # invert the template's contrast: T2-like with real detail
            img = np.where(s["brain"], 1.05 - img, 0.0).astype(np.float32)
    else:
        gm, wm, csf = _tissue_means(rng, contrast)
        p_gm, p_wm, p_csf = _sharpen(rng, s) if rng.random() < 0.6 else (s["gm"], s["wm"], s["csf"])
        img = gm * p_gm + wm * p_wm + csf * p_csf
        if rng.random() < 0.35:  # borrow the template's fine detail
            detail = s["t1"] - ndimage.gaussian_filter(s["t1"], 1.5)
            img = img + rng.uniform(-0.6, 0.6) * detail * s["brain"]
    img = img.astype(np.float32)
    # sub-tissue texture: real tissue is not piecewise constant. Never finer than ~1.2 px, so no
    # clean target holds near-white texture the net could not tell from noise (0.6 px measured
    # the same on the held-out set: see benchmarks/README.md)
    if rng.random() < 0.8:
        amp = rng.uniform(0.01, 0.08)
        img *= 1.0 + amp * _smooth_noise(rng, shape, rng.uniform(1.2, 3.0)) * s["brain"]

    # skull, scalp and background
    bg_kind = rng.choice(["zero", "head", "head_noisy", "noisy", "structures", "flat"],
                         p=[0.15, 0.25, 0.15, 0.15, 0.15, 0.15])
    scale = 1.0
    if bg_kind.startswith("head"):
        head = _head(rng, s["brain"], scale)
        if head is not None:
            dist, (rb, rm, rs, ro) = head
            outside = ~s["brain"]
            layer_vals = rng.uniform(0.0, 1.0, size=4)
            if contrast in ("t1", "template"):
                layer_vals[1] = rng.uniform(0.0, 0.2)  # cortical bone is dark
            bands = [(0, rb, rng.uniform(0.0, 1.0) * 0.6), (rb, rm, layer_vals[1]),
                     (rm, rs, layer_vals[2]), (rs, ro, layer_vals[3])]
            for a, b, v in bands:
                band = outside & (dist >= a) & (dist < b)
                img[band] = v
            tex = 1.0 + rng.uniform(0.0, 0.1) * _smooth_noise(rng, shape, rng.uniform(1.5, 4))
            img = np.where(outside & (dist < ro), img * tex, img).astype(np.float32)
    if bg_kind == "structures" or (bg_kind == "head" and rng.random() < 0.3):
        blobs = _ellipses(rng, shape, int(rng.integers(1, 5)))
        img = np.where((img <= 0.01) & (blobs > 0), blobs, img).astype(np.float32)
    if bg_kind == "flat":  # a dim but not empty layer around the brain (muscle, fluid): a net that
        # only saw zero or pure-noise surroundings blanks any flat region below ~0.1 to zero. Zero
        # beyond it, as in a real scan, so the robust normalisation keeps the layer above 0
        head = _head(rng, s["brain"], scale)
        if head is not None:
            layer = ~s["brain"] & (head[0] < rng.uniform(5, 80) * scale) & (img <= 0.01)
            img = np.where(layer, np.float32(rng.uniform(0.03, 0.3)), img).astype(np.float32)
    if rng.random() < 0.35:  # thin flat bands, in the background or (vessels, dura) across tissue
        rings = _ellipses(rng, shape, int(rng.integers(1, 4)), ring=True)
        where = (rings > 0) if rng.random() < 0.4 else (rings > 0) & (img <= 0.01)
        img = np.where(where, rings, img).astype(np.float32)

    # bias field and gamma
    if rng.random() < 0.7:
        img *= np.exp(rng.uniform(0.05, 0.4) * _smooth_noise(rng, shape, rng.uniform(25, 60)))
    img = np.clip(img, 0.0, None)
    peak = float(np.percentile(img, 99.5)) or 1.0
    img = img / peak
    if rng.random() < 0.6:
        img = np.clip(img, 0.0, None) ** rng.uniform(0.6, 1.6)

    # resolution: blur then resample to 0.7-4 mm (anisotropic sometimes), or (a quarter of the
    # time) keep the 1 mm grid untouched: step edges one voxel wide, which a net trained only on
    # resampled images blurs (worse than the noisy input right at the edge)
    if resample is not None:  # EPI's blur at 1 mm, before the coarse grid
        if contrast == "epi":
            img = ndimage.gaussian_filter(img, rng.uniform(0.3, 1.0))
        img = np.clip(resample(img, rng), 0.0, None).astype(np.float32)
        res = res2 = 1.0
        extra = 0.0
    elif rng.random() < 0.25:
        res = res2 = 1.0
        extra = 0.0
    else:
        res = rng.uniform(0.7, 2.0) if rng.random() < 0.65 else rng.uniform(2.0, 4.0)
        res2 = res if rng.random() < 0.7 else float(np.clip(res * rng.uniform(0.5, 2.0), 0.7, 4.0))
        extra = rng.uniform(0.0, 0.8) if rng.random() < 0.4 else 0.0
    blur = [max(0.0, 0.45 * (r - 1.0)) + extra for r in (res, res2)]
    if contrast == "epi" and resample is None:
        blur = [b + rng.uniform(0.3, 1.0) for b in blur]
    if max(blur) > 0:
        img = ndimage.gaussian_filter(img, blur)
    if (res, res2) != (1.0, 1.0):
        img = ndimage.zoom(img, (1.0 / res, 1.0 / res2), order=1, prefilter=False)
    img = img.astype(np.float32)

    # noise floor already in the "clean" image: real backgrounds are not zero
    # (only where the image is dark: the target must stay clean inside the tissue)
    if bg_kind in ("noisy", "head_noisy"):
        floor = rng.uniform(0.003, 0.03)
        dark = ndimage.gaussian_filter((img < 0.04).astype(np.float32), 1.0)
        n1 = rng.normal(0, floor, img.shape) * dark
        n2 = rng.normal(0, floor, img.shape) * dark
        img = np.sqrt((img + n1) ** 2 + n2 ** 2).astype(np.float32)

    # normalise like the app: robust percentiles, sometimes not reaching 1 (dark slice of a volume)
    norm = Normalizer(low=float(rng.uniform(0.0, 2.0)), high=float(rng.uniform(98.0, 100.0))).fit(img)
    out = norm.forward(img, clip=True)
    if rng.random() < 0.25:
        out = out * np.float32(rng.uniform(0.5, 1.0))
    if rng.random() < 0.5:
        out = out.T
    return np.ascontiguousarray(out, dtype=np.float32)


def named_test_volume(maps: TissueMaps, contrast: str, resolution_mm: float, seed: int,
                      background: str = "zero") -> np.ndarray:
    """A deterministic 3D synthetic volume with one named contrast, for held-out evaluation.

    Built from ``maps`` (pass the held-out slab) with texture, a smooth bias field, an optional
    skull-like background, and blurred + resampled to ``resolution_mm`` isotropic.
    """
    rng = np.random.default_rng(seed)
    if contrast == "template":
        vol = maps.t1.copy()
        gm = 0.6
    else:
        gm, wm, csf = _tissue_means(rng, contrast)
        vol = gm * maps.gm + wm * maps.wm + csf * maps.csf
    texture = 1.0 + 0.06 * _smooth_noise(rng, vol.shape, 1.0)
    vol = np.where(maps.brain, vol * texture, vol).astype(np.float32)
    if background == "head":
        dist = ndimage.distance_transform_edt(~maps.brain).astype(np.float32)
        vol[(dist > 0) & (dist < 3)] = 0.3 * gm
        vol[(dist >= 3) & (dist < 6)] = 0.05
        vol[(dist >= 6) & (dist < 11)] = 0.9
    coarse = rng.standard_normal([max(2, n // 16) for n in vol.shape])
    bias = ndimage.zoom(ndimage.gaussian_filter(coarse, 1.0), [n / c for n, c in zip(vol.shape, coarse.shape)], order=1)
    vol = vol * np.exp(0.15 * bias[: vol.shape[0], : vol.shape[1], : vol.shape[2]] / max(bias.std(), 1e-6))
    if contrast == "epi":
        vol = ndimage.gaussian_filter(vol, 0.8)
    if resolution_mm > 1.0:
        vol = ndimage.gaussian_filter(vol, 0.45 * (resolution_mm - 1.0))
        vol = ndimage.zoom(vol, 1.0 / resolution_mm, order=1, prefilter=False)
    return vol.astype(np.float32)
