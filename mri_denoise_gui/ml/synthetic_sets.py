"""The synthetic training stream and validation sets cut from the MNI152 template by slab.

Why a module of its own: the original validation set must stay exactly the one every stage of
the shipped default was selected on, and the coarse one (ml/synthetic_coarse.py) must come from
the same held-out slab; ``train`` and ``benchmarks/synth_val.py`` both build them here. TF-free.
"""

from __future__ import annotations

import numpy as np

from mri_denoise_gui.ml import data as mldata
from mri_denoise_gui.ml import synthetic_detail

#: Slabs of the MNI152 template along file axis 2 (inferior -> superior, 189 slices at 1 mm)
#: used by synthetic training. The test slab is never trained or validated on (bench_quality).
SYNTH_TRAIN_SLABS = ((0, 80), (144, 189))
SYNTH_VAL_SLAB = (88, 104)
SYNTH_TEST_SLAB = (112, 136)
#: each validation domain's seeds sit this far from the original set's (their own draws); the
#: sampler option that makes a slab's slices that domain; the config share that trains on it
DOMAINS = {
    "original": (0, None, None),
    "coarse": (1000, "coarse_share", "synthetic_coarse"),
    "detail": (2000, "detail_share", "synthetic_detail"),
    "oversampled": (3000, "oversampled_share", "synthetic_oversampled"),
}
DOMAIN_TEXT = {
    "coarse": ("ml/synthetic_coarse.py: 1-6 mm thick slices (neighbouring slices averaged), in-plane 1.5-5 mm by "
               "box partial volume or k-space truncation (Gibbs ringing), small fields of view (matrices of ~25-130)"),
    "oversampled": ("ml/synthetic_oversampled.py: slices interpolated 1.5-4x onto a finer grid (cubic spline or "
                    "k-space zero-filling), smooth at the pixel scale"),
    "detail": ("ml/synthetic_detail.py: scikit-image's bundled photographs under an MRI-like intensity mapping; "
               "trained on " + ", ".join(synthetic_detail.TRAIN_IMAGES)
               + "; validated on " + ", ".join(synthetic_detail.VALIDATION_IMAGES)),
}


def synthetic_validation_pairs(config, domain: str = "original", maps=None):
    """The synthetic validation set of ``config`` for ``domain`` (a DOMAINS key), from SYNTH_VAL_SLAB
    only: the original one exactly as training always built it, the others with their own seeds
    ("detail": photographs cut from the held-out VALIDATION_IMAGES only)."""
    from mri_denoise_gui.ml.synthetic import TissueMaps

    shift, option, _ = DOMAINS[domain]
    maps = maps if maps is not None else TissueMaps.load()
    seed = config.seed + shift
    sampler = mldata.SyntheticPatchSampler([maps.slab(*SYNTH_VAL_SLAB)], config.patch_size, axes=(2,),
                                           rng=np.random.default_rng(seed + mldata.VALIDATION_PATCH_SEED_OFFSET),
                                           detail_images=synthetic_detail.VALIDATION_IMAGES,
                                           **({option: 1.0} if option else {}))
    return mldata.validation_pairs(sampler, config.val_patches, config.noise_kind, config.variance_range,
                                   seed=seed + mldata.VALIDATION_NOISE_SEED_OFFSET)


def synthetic_training(config):
    """(sampler factory, validation noisy, validation clean, summary) for synthetic training; each
    domain the config trains on (a share > 0) appends its validation set to the original one."""
    from mri_denoise_gui.ml.synthetic import TissueMaps, mni_map_paths

    maps = TissueMaps.load()
    chunks = [maps.slab(a, b) for a, b in SYNTH_TRAIN_SLABS]
    shares = {option: float(getattr(config, share)) for _, option, share in DOMAINS.values() if option}

    def factory(seed):
        return mldata.SyntheticPatchSampler(chunks, config.patch_size, rng=np.random.default_rng(seed), **shares)

    summary = {
        "source": "synthetic contrasts from nilearn's MNI152 2009a T1/GM/WM maps (see ml/synthetic.py)",
        "files": {k: p.name for k, p in mni_map_paths().items()},
        "train": [{"file": "MNI152 slab", "z_range": list(s), "slices": s[1] - s[0]} for s in SYNTH_TRAIN_SLABS],
        "validation": [{"file": "MNI152 slab", "z_range": list(SYNTH_VAL_SLAB),
                        "slices": SYNTH_VAL_SLAB[1] - SYNTH_VAL_SLAB[0]}],
        "held_out_test": {"file": "MNI152 slab", "z_range": list(SYNTH_TEST_SLAB)},
        "split": "by slab along file axis 2 with 8-slice gaps",
    }
    noisy, clean = synthetic_validation_pairs(config, maps=maps)
    for domain, (_, _, share) in DOMAINS.items():
        if share is None or not getattr(config, share):
            continue
        summary[f"{domain}_share"] = float(getattr(config, share))
        summary[f"{domain}_domain"] = DOMAIN_TEXT[domain]
        summary.setdefault("validation_sets", {"original": int(config.val_patches)})[domain] = int(config.val_patches)
        noisy2, clean2 = synthetic_validation_pairs(config, domain, maps=maps)
        noisy, clean = np.concatenate([noisy, noisy2]), np.concatenate([clean, clean2])
    return factory, noisy, clean, summary
