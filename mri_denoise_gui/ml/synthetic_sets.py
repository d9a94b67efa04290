"""The synthetic training stream and validation sets cut from the MNI152 template by slab.

Why a module of its own: the original validation set must stay exactly the one every stage of
the shipped default was selected on, and the coarse one (ml/synthetic_coarse.py) must come from
the same held-out slab; ``train`` and ``benchmarks/synth_val.py`` both build them here. TF-free.
"""

from __future__ import annotations

import numpy as np

from mri_denoise_gui.ml import data as mldata

#: Slabs of the MNI152 template along file axis 2 (inferior -> superior, 189 slices at 1 mm)
#: used by synthetic training. The test slab is never trained or validated on (bench_quality).
SYNTH_TRAIN_SLABS = ((0, 80), (144, 189))
SYNTH_VAL_SLAB = (88, 104)
SYNTH_TEST_SLAB = (112, 136)
#: the coarse validation set's seeds sit this far from the original set's (its own draws)
COARSE_SEED_SHIFT = 1000
#: and the detail set's (ml/synthetic_detail.py, held-out images only) this far
DETAIL_SEED_SHIFT = 2000


def synthetic_validation_pairs(config, coarse: bool = False, maps=None, detail: bool = False):
    """The synthetic validation set of ``config`` (from SYNTH_VAL_SLAB only): the original one, as
    training always built it, or (``coarse``) the coarse / thick-slice one with its own seeds, or
    (``detail``) photographs cut from the held-out VALIDATION_IMAGES only."""
    from mri_denoise_gui.ml import synthetic_detail
    from mri_denoise_gui.ml.synthetic import TissueMaps

    maps = maps if maps is not None else TissueMaps.load()
    seed = config.seed + (COARSE_SEED_SHIFT if coarse else DETAIL_SEED_SHIFT if detail else 0)
    sampler = mldata.SyntheticPatchSampler([maps.slab(*SYNTH_VAL_SLAB)], config.patch_size, axes=(2,),
                                           rng=np.random.default_rng(seed + mldata.VALIDATION_PATCH_SEED_OFFSET),
                                           coarse_share=1.0 if coarse else 0.0, detail_share=1.0 if detail else 0.0,
                                           detail_images=synthetic_detail.VALIDATION_IMAGES)
    return mldata.validation_pairs(sampler, config.val_patches, config.noise_kind, config.variance_range,
                                   seed=seed + mldata.VALIDATION_NOISE_SEED_OFFSET)


def synthetic_training(config):
    """(sampler factory, validation noisy, validation clean, summary) for synthetic training; with
    ``config.synthetic_coarse`` > 0 the coarse validation set is appended to the original one."""
    from mri_denoise_gui.ml.synthetic import TissueMaps, mni_map_paths

    maps = TissueMaps.load()
    chunks = [maps.slab(a, b) for a, b in SYNTH_TRAIN_SLABS]

    def factory(seed):
        return mldata.SyntheticPatchSampler(chunks, config.patch_size, rng=np.random.default_rng(seed),
                                            coarse_share=float(config.synthetic_coarse),
                                            detail_share=float(config.synthetic_detail))

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
    if config.synthetic_coarse:
        summary["coarse_share"] = float(config.synthetic_coarse)
        summary["coarse_domain"] = ("ml/synthetic_coarse.py: 1-6 mm thick slices (neighbouring slices averaged), "
                                    "in-plane 1.5-5 mm by box partial volume or k-space truncation (Gibbs "
                                    "ringing), small fields of view (matrices of ~25-130)")
        summary["validation_sets"] = {"original": int(config.val_patches), "coarse": int(config.val_patches)}
        noisy2, clean2 = synthetic_validation_pairs(config, coarse=True, maps=maps)
        noisy, clean = np.concatenate([noisy, noisy2]), np.concatenate([clean, clean2])
    if config.synthetic_detail:
        from mri_denoise_gui.ml import synthetic_detail

        summary["detail_share"] = float(config.synthetic_detail)
        summary["detail_domain"] = ("ml/synthetic_detail.py: scikit-image's bundled photographs under an MRI-like "
                                    "intensity mapping; trained on " + ", ".join(synthetic_detail.TRAIN_IMAGES)
                                    + "; validated on " + ", ".join(synthetic_detail.VALIDATION_IMAGES))
        summary.setdefault("validation_sets", {"original": int(config.val_patches)})["detail"] = int(config.val_patches)
        noisy2, clean2 = synthetic_validation_pairs(config, maps=maps, detail=True)
        noisy, clean = np.concatenate([noisy, noisy2]), np.concatenate([clean, clean2])
    return factory, noisy, clean, summary
