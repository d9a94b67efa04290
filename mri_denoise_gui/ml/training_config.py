"""What a training run is asked to do: ``TrainingConfig``, its defaults, its choices and its one judge, ``validate``.

TF-free on purpose (a test imports it with TensorFlow blocked): the training form, the dialog and
``mri-denoise train`` all import it directly. Each field is declared once, with ``setting(...)``:
its default, label, help text, choices and, when it has one, its command-line flag; the argparse
flags (``cli_ml.add_config_flags``) and the form's labels and tool tips are read from that metadata,
so a new option is one entry here: given a ``label``, the form shows it too (a hand-made editor in
one of its groups, or else a row made from this table under "More settings").
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from mri_denoise_gui.core.normalize import Normalizer
from mri_denoise_gui.ml import training_choices as choices
from mri_denoise_gui.ml.errors import ModelError
from mri_denoise_gui.ml.modelfile import check_model_folder
from mri_denoise_gui.ml.output_folder import output_problem
from mri_denoise_gui.ml.training_choices import LR_SCHEDULES, MONITORS  # noqa: F401 - re-exported


def setting(default=dataclasses.MISSING, *, factory=dataclasses.MISSING, label: str = "", help: str = "",
            choices=None, labels=None, whole: int | None = None, cli: str | None = None, flag: str | None = None,
            nargs=None, metavar=None):
    """A config field and what the form and the CLI need to know about it.

    ``whole``: the field must be a whole number >= this (validate and the CLI's type say so);
    ``cli``: how ``mri-denoise train`` parses it ("switch", "text", "choice", "count", "index",
    "float", "unit", "variance", "paths"), None for no flag; ``flag`` overrides ``--field-name``.
    """
    meta = {"label": label, "help": help, "choices": tuple(choices) if choices is not None else None,
            "labels": labels or {}, "whole": whole, "cli": cli, "flag": flag, "nargs": nargs, "metavar": metavar}
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def _whole(value, minimum: int) -> bool:
    """An int (not a bool) of at least ``minimum``: what count-like settings must be."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


#: the shares of the synthetic stream's extra domains (ml/synthetic_sets.DOMAINS maps each to its
#: sampler option and validation set)
DOMAIN_SHARES = ("synthetic_coarse", "synthetic_detail", "synthetic_oversampled")


@dataclass
class TrainingConfig:
    """Every training hyperparameter with its default (what the training dialog edits)."""

    out: str = setting("", label="Model folder", cli="text", help="model folder to write")
    data: list = setting(factory=list, cli="paths", nargs="+", metavar="PATH",
                         help="NIfTI files or folders")
    synthetic: bool = setting(False, cli="switch", help="synthetic contrasts from nilearn's MNI152 maps")
    #: share of synthetic slices from the coarse / thick-slice / small-matrix domain
    #: (ml/synthetic_coarse.py); > 0 also adds a coarse validation set of as many patches
    synthetic_coarse: float = setting(0.0, cli="unit", metavar="SHARE",
                                      help="synthetic data only: share of coarse, thick, small-matrix slices "
                                           "(0 = the original domain)")
    #: share of synthetic slices that are detail-rich photographs (ml/synthetic_detail.py); > 0
    #: also adds a detail validation set of as many patches, cut from held-out images only
    synthetic_detail: float = setting(0.0, cli="unit", metavar="SHARE",
                                      help="synthetic data only: share of detail-rich photographs "
                                           "(scikit-image's samples) among the clean slices (0 = off)")
    #: share of synthetic slices interpolated 1.5-4x onto a finer grid (ml/synthetic_oversampled.py);
    #: > 0 also adds an oversampled validation set of as many patches
    synthetic_oversampled: float = setting(0.0, cli="unit", metavar="SHARE",
                                           help="synthetic data only: share of slices interpolated onto a finer "
                                                "grid, smooth at the pixel scale (0 = off)")
    #: share of patches whose sigma is drawn in [low, 3 %] instead of the whole range
    low_noise_share: float = setting(0.0, cli="unit", metavar="SHARE",
                                     help="share of training patches with noise drawn at sigma 1-3 percent only (0 = off)")
    arch: str = setting(choices.DEFAULT_ARCH, label="Architecture", choices=choices.ARCHITECTURES,
                        labels=choices.ARCH_LABELS, cli="choice",
                        help="resunet: the default; seed-autoencoder: the tutorial's network; tiny: for quick tests")
    arch_options: dict = setting(factory=dict)
    epochs: int = setting(20, label="Epochs", whole=1, cli="count",
                          help="Epochs, and training batches in each epoch")
    steps_per_epoch: int = setting(200, whole=1, cli="count")
    batch_size: int = setting(16, label="Batch", whole=1, cli="count",
                              help="Patches per batch, and their side in pixels")
    patch_size: int = setting(64, whole=16, cli="count", flag="--patch", help="patch size in pixels")
    learning_rate: float = setting(1e-3, label="Learning rate", cli="float", flag="--lr",
                                   help="Adam's initial learning rate, and how it falls")
    loss: str = setting("ssim_l1", label="Loss", choices=choices.LOSSES, labels=choices.LOSS_LABELS, cli="choice")
    noise_kind: str = setting("rician+gaussian", label="Noise", choices=choices.TRAIN_NOISE_KINDS,
                              labels=choices.NOISE_LABELS, cli="choice")
    #: sigma 1% to 10% of the normalised range, uniform in sigma
    variance_range: tuple = setting((1e-4, 1e-2), label="Variance", cli="variance", nargs=2,
                                    metavar=("LOW", "HIGH"))
    val_fraction: float = setting(0.2, label="Validation", cli="float")
    val_patches: int = setting(128, whole=1)
    central_fraction: float = setting(0.8, label="Central slices", cli="float")
    all_axes: bool = setting(False, cli="switch", help="slices along all three axes")
    normalizer: dict = setting(factory=lambda: {"method": "percentile", "low": 0.5, "high": 99.5},
                               label="Normalise", labels=choices.NORMALIZER_LABELS,
                               help="How each volume is mapped to [0, 1] for training, and by the model for every "
                                    "scan it denoises: robust percentiles keep a few hot voxels from squashing the "
                                    "contrast (the shipped models use 0.5 to 99.5%)")
    volume_index: int = setting(0, label="4D volume", whole=0, cli="index",
                                help="Which volume of 4D files to train on (a time point or b-value, from 0); "
                                     "3D files are read as they are")
    init_from: str | None = setting(None, label="Start", cli="text", help="fine-tune this model folder")
    #: the split, the validation pairs and (unless stream_seed is set) the training stream
    seed: int = setting(0, label="Seed", whole=0, cli="index",
                        help="Makes the split, patches and noise reproducible")
    #: a different training stream with the same validation set (fine-tuning stages)
    stream_seed: int | None = setting(None, whole=0)
    tensorboard: bool = setting(False, cli="switch", help="Writes <model folder>_tensorboard for `tensorboard --logdir`")
    lr_patience: int = setting(3, whole=1)
    lr_schedule: str = setting("plateau", choices=LR_SCHEDULES, labels=choices.SCHEDULE_LABELS, cli="choice",
                               help="plateau (default): halve the rate when validation loss stalls; "
                                    "cosine: fall to 2% of the rate along a half cosine over the epochs")
    #: "inverse_sigma" weights each patch's loss by (mid sigma / its sigma): errors scale with sigma, so
    #: unweighted losses let the noisiest patches dominate and under-serve low noise (mean PSNR in dB
    #: counts every noise level alike)
    noise_weighting: str = setting("none", choices=choices.NOISE_WEIGHTINGS, cli="choice",
                                   help="inverse_sigma weights each patch's loss by 1/sigma, so low noise "
                                        "counts as much as high")
    monitor: str = setting("val_loss", label="Keep the best by", choices=tuple(MONITORS),
                           labels=choices.MONITOR_LABELS, cli="choice",
                           help="Which validation score picks the checkpoint that is saved "
                                "(compare losses only within one loss)")
    #: momentum of an exponential moving average of the weights (Polyak averaging; 0 = off): the
    #: average is what is validated and saved, which smooths out the last steps' noise for free
    ema_momentum: float = setting(0.0, cli="unit", metavar="M",
                                  help="validate and keep a moving average of the weights (e.g. 0.999; 0 = off)")
    #: "none", "mirrored" (this machine's GPUs or logical CPUs) or "multiworker" (from TF_CONFIG);
    #: batch_size is per replica (see ml/distribute.py)
    distribution: str = setting("none", label="Devices", choices=choices.DISTRIBUTIONS,
                                labels=choices.DISTRIBUTION_LABELS, cli="choice",
                                help="mirrored: all GPUs (or logical CPUs) of this machine; multiworker: the "
                                     "machines in TF_CONFIG. --batch-size is then per replica")
    #: the mixed-precision policy training computes in (weights stay float32; see ml/precision.py)
    precision: str = setting("auto", label="Precision", choices=choices.PRECISIONS, labels=choices.PRECISION_LABELS,
                             cli="choice",
                             help="Compute precision while training: bfloat16 / float16 run the layers in mixed "
                                  "precision (float32 weights, float32 output and loss; float16 with loss "
                                  "scaling); auto is float32 until the lower precision is measured to reach the "
                                  "same validation scores")

    def validate(self) -> dict:
        """Invalid fields mapped to a reason (empty when the config is usable)."""
        bad: dict[str, str] = {}
        if not str(self.out).strip():
            bad["out"] = "an output model folder is required"
        else:
            problem = output_problem(self.out, [] if self.synthetic else self.data, self.init_from)
            if problem:
                bad["out"] = problem
        if not self.synthetic and not self.data:
            bad["data"] = "give at least one NIfTI file or folder (or use synthetic data)"
        elif not self.synthetic and isinstance(self.data, list):
            missing = [Path(p) for p in self.data if not Path(p).exists()]
            if missing:
                bad["data"] = "not found: " + ", ".join(p.name for p in missing[:3])
        for f in dataclasses.fields(self):
            value, meta = getattr(self, f.name), f.metadata
            if meta.get("whole") is not None and not (value is None and f.default is None):
                if not _whole(value, meta["whole"]):
                    bad[f.name] = f"must be a whole number >= {meta['whole']}"
            if meta.get("choices") and value not in meta["choices"] and not (f.name == "arch" and self.init_from):
                bad[f.name] = f"choose from {', '.join(meta['choices'])}"
        if "arch" in bad:
            bad["arch"] = "unknown architecture; " + bad["arch"]
        if "volume_index" in bad:
            bad["volume_index"] += " (the volume of 4D files to train on)"
        if "patch_size" not in bad and self.arch in choices.ARCHITECTURES:
            s = choices.stride(self.arch, **(self.arch_options or {}))
            if self.patch_size % s:
                bad["patch_size"] = f"must be a multiple of {s} for {self.arch}"
            elif self._fixed_size() not in (None, self.patch_size):
                size = self._fixed_size()
                bad["patch_size"] = f"must be {size}: {self.arch} is a fixed {size}x{size} network"
        if (self.arch_options or {}).get("context"):
            bad["arch_options"] = ("context (neighbouring slices as input) is measured by "
                                   "benchmarks/context_probe.py; training and the app take one slice")
        if not (_number(self.learning_rate) and 0 < self.learning_rate < 1):
            bad["learning_rate"] = "must be between 0 and 1"
        if not (_number(self.ema_momentum) and 0 <= self.ema_momentum < 1):
            bad["ema_momentum"] = "must be in [0, 1) (0 turns the weight average off)"
        try:
            lo, hi = (float(v) for v in self.variance_range)
            if not (0 <= lo <= hi and hi < 1 and math.isfinite(hi)):
                raise ValueError
        except (TypeError, ValueError):
            bad["variance_range"] = "two variances LOW <= HIGH in [0, 1)"
        for name in (*DOMAIN_SHARES, "low_noise_share"):
            if not (_number(getattr(self, name)) and 0 <= getattr(self, name) <= 1):
                bad[name] = "must be a share in [0, 1]"
        for name in DOMAIN_SHARES:
            if _number(getattr(self, name)) and getattr(self, name) > 0 and not self.synthetic:
                bad[name] = "only for synthetic training data"
        if not (_number(self.val_fraction) and 0 < self.val_fraction < 1):
            bad["val_fraction"] = "must be between 0 and 1"
        if not (_number(self.central_fraction) and 0 < self.central_fraction <= 1):
            bad["central_fraction"] = "must be in (0, 1]"
        try:
            Normalizer.from_dict(self.normalizer or {})
        except (TypeError, ValueError) as exc:
            bad["normalizer"] = str(exc)
        if self.init_from:
            try:
                check_model_folder(self.init_from)
            except ModelError as exc:
                bad["init_from"] = str(exc)
        return bad

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["variance_range"] = list(self.variance_range)
        return d

    def _fixed_size(self) -> int | None:
        """The one input size a fixed-size network takes (None: any multiple of its stride)."""
        if self.arch != choices.SEED_ARCH:
            return None
        size = (self.arch_options or {}).get("input_size", 256)
        return size if _whole(size, 1) else None

    @classmethod
    def from_dict(cls, d: dict) -> "TrainingConfig":
        """A config from a dict (a JSON file, the dialog); ValueError naming any unknown or mistyped setting."""
        if not isinstance(d, dict):
            raise ValueError(f"training settings must be a JSON object of name: value, not a {type(d).__name__}")
        fields = {f.name: f.type for f in dataclasses.fields(cls)}
        unknown = set(d) - set(fields)
        if unknown:
            raise ValueError(f"unknown training settings: {', '.join(sorted(map(str, unknown)))}")
        wrong = [f"{k} ({_TYPE_WORDS[fields[k]]})" for k, v in d.items() if not _fits(v, fields[k])]
        if wrong:
            raise ValueError(f"wrong type for training settings: {', '.join(wrong)}")
        d = dict(d)
        if "variance_range" in d:
            d["variance_range"] = tuple(d["variance_range"])
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "TrainingConfig":
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc})") from None
        return cls.from_dict(d)


def field_info(name: str) -> dict:
    """The metadata ``setting`` recorded for one field (label, help, choices, labels, ...)."""
    return dict(_FIELDS[name].metadata)


def defaults() -> dict:
    """Every field's default, as ``to_dict`` gives it (what a new form shows)."""
    return TrainingConfig().to_dict()


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_FIELDS = {f.name: f for f in dataclasses.fields(TrainingConfig)}
FIELD_NAMES = tuple(_FIELDS)

#: each field annotation -> (does a value fit?, what it should be); numbers' ranges are validate()'s job
_TYPES = {
    "str": (lambda v: isinstance(v, str), "text"),
    "str | None": (lambda v: v is None or isinstance(v, str), "text or null"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "int": (_number, "a number"),
    "float": (_number, "a number"),
    "int | None": (lambda v: v is None or _number(v), "a number or null"),
    "list": (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v), "a list of paths"),
    "dict": (lambda v: isinstance(v, dict), "a JSON object"),
    "tuple": (lambda v: isinstance(v, (list, tuple)), "a list"),
}
_TYPE_WORDS = {k: words for k, (_, words) in _TYPES.items()}


def _fits(value, annotation: str) -> bool:
    check = _TYPES.get(annotation)
    return check is None or check[0](value)
