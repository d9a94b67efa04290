"""The names training can choose from, and how they read: TF-free, so the form and the CLI can list them.

Why here: the builders (``architectures.py``), losses (``losses.py``) and the data pipeline import
TensorFlow or do real work; the dialog and ``mri-denoise train --help`` only need the names. The
modules that implement them check against these tuples (tests assert they agree).
"""

from __future__ import annotations

from mri_denoise_gui.core.noise import NOISE_KINDS

DEFAULT_ARCH = "resunet"
SEED_ARCH = "seed-autoencoder"
ARCHITECTURES = (DEFAULT_ARCH, SEED_ARCH, "tiny")
LOSSES = ("ssim", "ssim_l1", "l1", "ssim_masked", "ssim_masked_l1", "l1_tissue")
#: Noise kinds the training pipeline can generate; "rician+gaussian" picks one per patch.
TRAIN_NOISE_KINDS = NOISE_KINDS + ("rician+gaussian",)
#: Per-patch loss weights: none, or mid-range sigma / the patch's sigma (see TrainingConfig).
NOISE_WEIGHTINGS = ("none", "inverse_sigma")
#: what picks the best checkpoint, and which way is better
MONITORS = {"val_loss": "min", "val_psnr_metric": "max", "val_ssim_metric": "max"}
#: "plateau": halve the rate when validation loss stalls for lr_patience epochs; "cosine": fall from
#: learning_rate to 2% of it along a half cosine over the run's epochs (a fixed budget, no stall test)
LR_SCHEDULES = ("plateau", "cosine")
DISTRIBUTIONS = ("none", "mirrored", "multiworker")
#: floating-point precisions of inference (``ml/precision.py``) and of training's mixed-precision policy
PRECISIONS = ("auto", "float32", "bfloat16", "float16")
#: denoising strength of networks with a noise-level input (``ml/strength.py``): 1 is as trained
STRENGTH_RANGE = (0.25, 4.0)
#: self-supervised adaptation (ml/adapt.py): recorrupted pairs or blind-spot masking
ADAPT_METHODS = ("r2r", "n2v")
ADAPT_METHOD_NAMES = {"r2r": "recorrupted pairs (Recorrupted-to-Recorrupted)",
                      "n2v": "blind-spot masking (Noise2Void / N2V2 median replacement)"}

ARCH_LABELS: dict = {}
LOSS_LABELS = {"ssim": "SSIM (as the tutorial)", "ssim_l1": "SSIM + L1", "l1": "L1",
               "ssim_masked": "SSIM over tissue windows", "ssim_masked_l1": "SSIM over tissue windows + L1", "l1_tissue": "L1, tissue-weighted"}
NOISE_LABELS = {"rician+gaussian": "rician + gaussian (blind)"}
MONITOR_LABELS = {"val_loss": "validation loss", "val_ssim_metric": "validation SSIM",
                  "val_psnr_metric": "validation PSNR"}
SCHEDULE_LABELS = {"plateau": "halve when validation stalls", "cosine": "cosine down to 2%"}
NORMALIZER_LABELS = {"percentile": "percentiles", "minmax": "min to max (as the tutorial)"}
PRECISION_LABELS = {"auto": "auto (float32 until bfloat16 is shown to train as well)",
                    "bfloat16": "bfloat16 (mixed; CPUs with avx512_bf16 / AMX)",
                    "float16": "float16 (mixed, loss scaling; GPUs with tensor cores)"}
DISTRIBUTION_LABELS = {"none": "one device", "mirrored": "all GPUs of this machine (mirrored)",
                       "multiworker": "several machines (TF_CONFIG)"}


def stride(name: str, **options) -> int:
    """The multiple that H and W must be padded to before this architecture sees them."""
    if name == SEED_ARCH:
        return 8
    if name == "tiny":
        return 4
    levels = int(options.get("levels", 2))
    unshuffle = int(options.get("unshuffle", 2))
    return max(unshuffle, 1) * 2 ** levels
