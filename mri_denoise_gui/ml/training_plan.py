"""What a run will cost before it starts (slices per split, a measured time per epoch), and how an epoch reads.

Why in ml/: the training dialog shows this plan, but counting slices reads NIfTI headers and
timing builds and compiles the real network, which is ML work, not view work. ``timed_plan``
runs in the training worker's thread (it needs TensorFlow); the view only formats its dict.
"""

from __future__ import annotations

import math
import time

from mri_denoise_gui.core.errors import first_line
from mri_denoise_gui.ml.training_config import TrainingConfig

#: Train steps timed (after one warm-up step) to estimate the time per epoch.
MEASURE_STEPS = 3


def slice_counts(config: TrainingConfig, plan: dict) -> dict:
    """Slices per split from the NIfTI headers (no voxel data read): what ``train.plan`` leaves out."""
    import nibabel as nib

    from mri_denoise_gui.ml import data as mldata

    axes = (0, 1, 2) if config.all_axes else (2,)

    def count(shape) -> int:
        return sum(len(mldata.central_indices(int(shape[a]), float(config.central_fraction))) for a in axes)

    if config.synthetic:  # MNI152 slabs: train.plan counted them
        return {side: int(plan[side].get("slices", 0)) for side in ("train", "validation")}
    out = {"train": 0, "validation": 0}
    if plan.get("split") == "slab":
        shape = nib.load(plan["train"]["files"][0]).shape[:3]
        (a, b), (c, d) = mldata.slab_ranges(int(shape[2]), float(config.val_fraction))
        out["train"] = count((shape[0], shape[1], b - a))
        out["validation"] = count((shape[0], shape[1], d - c))
        return out
    for side in ("train", "validation"):
        for f in plan[side].get("files", []):
            out[side] += count(nib.load(f).shape[:3])
    return out


def measure_seconds_per_step(config: TrainingConfig, steps: int = MEASURE_STEPS) -> float:
    """Seconds for one training step of ``config``'s network, loss, batch and patch size.

    A real (tiny) measurement on random patches: one warm-up step for tracing, then ``steps``
    timed ones. It needs TensorFlow.
    """
    import keras
    import numpy as np

    from mri_denoise_gui.ml import architectures
    from mri_denoise_gui.ml.losses import get_loss

    if config.init_from:
        from mri_denoise_gui.ml.modelfile import read_model_json

        meta = read_model_json(config.init_from)
        model = architectures.build(meta["architecture"], **(meta.get("architecture_options") or {}))
    else:
        model = architectures.build(config.arch, **(config.arch_options or {}))
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss=get_loss(config.loss))
    rng = np.random.default_rng(0)
    shape = (int(config.batch_size), int(config.patch_size), int(config.patch_size), 1)
    clean = rng.random(shape, dtype=np.float32)
    noisy = np.clip(clean + 0.05 * rng.standard_normal(shape, dtype=np.float32), 0, 1)
    model.train_on_batch(noisy, clean)
    t0 = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(noisy, clean)
    return (time.perf_counter() - t0) / steps


def timed_plan(config: TrainingConfig, measure: bool = True, cache: dict | None = None) -> dict:
    """``train.plan`` plus slice counts and, if asked, ``seconds_per_step`` / ``seconds_per_epoch``.

    ``cache`` keeps step timings per network, loss, batch and patch so edits that change none of
    them (epochs, noise, data) are not timed again. A failed slice count is reported, not raised.
    """
    from mri_denoise_gui.ml import train as mltrain

    result = dict(mltrain.plan(config))
    try:
        result["slices"] = slice_counts(config, result)
    except Exception as exc:  # counts are a courtesy; the plan itself is what matters
        result["slices_error"] = first_line(exc)
    if measure:
        cache = {} if cache is None else cache
        key = (config.arch, str(config.init_from), config.batch_size, config.patch_size, config.loss)
        if key not in cache:
            cache[key] = measure_seconds_per_step(config)
        step = result["seconds_per_step"] = cache[key]
        val_steps = math.ceil(config.val_patches / config.batch_size)
        # validation is a forward pass: about a third of a training step
        result["seconds_per_epoch"] = step * (config.steps_per_epoch + val_steps / 3)
    return result


def epoch_summary(event: dict) -> str:
    """One line for an "epoch" progress event, shared by the command line, the recipes and the dialog's log."""
    logs = event.get("logs", {})
    nan = float("nan")
    return (f"epoch {event['epoch']}/{event['epochs']}  loss {logs.get('loss', nan):.4f}  "
            f"val loss {logs.get('val_loss', nan):.4f}  val SSIM {logs.get('val_ssim_metric', nan):.4f}  "
            f"val PSNR {logs.get('val_psnr_metric', nan):.2f} dB  lr {logs.get('learning_rate', nan):.2e}")
