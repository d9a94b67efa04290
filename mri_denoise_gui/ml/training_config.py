"""What a training run is asked to do: ``TrainingConfig``, its defaults and its one judge, ``validate``.

Apart from ``train.py`` so the run's machinery (callbacks, data preparation) and the settings
the dialog, the command line and the recipes edit live in modules of a readable size. The
output-folder rule itself is TF-free in ``output_folder.py``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

from mri_denoise_gui.core.normalize import Normalizer
from mri_denoise_gui.ml import architectures, data as mldata, distribute
from mri_denoise_gui.ml.errors import ModelError
from mri_denoise_gui.ml.losses import LOSSES
from mri_denoise_gui.ml.modelfile import check_model_folder
from mri_denoise_gui.ml.output_folder import output_problem

MONITORS = {"val_loss": "min", "val_psnr_metric": "max", "val_ssim_metric": "max"}
#: "plateau": halve the rate when validation loss stalls for lr_patience epochs; "cosine": fall from
#: learning_rate to 2% of it along a half cosine over the run's epochs (a fixed budget, no stall test)
LR_SCHEDULES = ("plateau", "cosine")


def _whole(value, minimum: int) -> bool:
    """An int (not a bool) of at least ``minimum``: what count-like settings must be."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


@dataclass
class TrainingConfig:
    """Every training hyperparameter with its default (what the training dialog edits)."""

    out: str = ""
    data: list = field(default_factory=list)
    synthetic: bool = False  # synthetic contrasts from nilearn's MNI152 maps instead of/in place of data
    arch: str = architectures.DEFAULT_ARCH
    arch_options: dict = field(default_factory=dict)
    epochs: int = 20
    steps_per_epoch: int = 200
    batch_size: int = 16
    patch_size: int = 64
    learning_rate: float = 1e-3
    loss: str = "ssim_l1"
    noise_kind: str = "rician+gaussian"
    variance_range: tuple = (1e-4, 1e-2)  # sigma 1% to 10% of the normalised range, uniform in sigma
    val_fraction: float = 0.2
    val_patches: int = 128
    central_fraction: float = 0.8
    all_axes: bool = False
    normalizer: dict = field(default_factory=lambda: {"method": "percentile", "low": 0.5, "high": 99.5})
    volume_index: int = 0  # which volume of 4D files (3D files are read as they are)
    init_from: str | None = None
    seed: int = 0  # the split, the validation pairs and (unless stream_seed is set) the training stream
    stream_seed: int | None = None  # a different training stream with the same validation set (fine-tuning stages)
    tensorboard: bool = False
    lr_patience: int = 3
    lr_schedule: str = "plateau"  # see LR_SCHEDULES
    #: "inverse_sigma" weights each patch's loss by (mid sigma / its sigma): errors scale with sigma, so
    #: unweighted losses let the noisiest patches dominate and under-serve low noise (mean PSNR in dB
    #: counts every noise level alike)
    noise_weighting: str = "none"
    monitor: str = "val_loss"  # what picks the best checkpoint: val_loss (min) or val_psnr_metric / val_ssim_metric (max)
    #: momentum of an exponential moving average of the weights (Polyak averaging; 0 = off): the
    #: average is what is validated and saved, which smooths out the last steps' noise for free
    ema_momentum: float = 0.0
    #: "none", "mirrored" (this machine's GPUs or logical CPUs) or "multiworker" (from TF_CONFIG);
    #: batch_size is per replica (see ml/distribute.py)
    distribution: str = "none"

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
        if self.arch not in architectures.ARCHITECTURES and not self.init_from:
            bad["arch"] = f"unknown architecture; choose from {', '.join(architectures.ARCHITECTURES)}"
        for name in ("seed", "stream_seed"):
            if getattr(self, name) is not None and not _whole(getattr(self, name), 0):
                bad[name] = "must be a whole number >= 0"
        if not _whole(self.volume_index, 0):
            bad["volume_index"] = "must be a whole number >= 0 (the volume of 4D files to train on)"
        for name in ("epochs", "steps_per_epoch", "batch_size", "val_patches", "lr_patience"):
            if not _whole(getattr(self, name), 1):
                bad[name] = "must be a whole number >= 1"
        if not _whole(self.patch_size, 16):
            bad["patch_size"] = "must be a whole number >= 16"
        elif self.arch in architectures.ARCHITECTURES:
            s = architectures.stride(self.arch, **(self.arch_options or {}))
            if self.patch_size % s:
                bad["patch_size"] = f"must be a multiple of {s} for {self.arch}"
            elif self._fixed_size() not in (None, self.patch_size):
                size = self._fixed_size()
                bad["patch_size"] = f"must be {size}: {self.arch} is a fixed {size}x{size} network"
        if not (isinstance(self.learning_rate, (int, float)) and 0 < self.learning_rate < 1):
            bad["learning_rate"] = "must be between 0 and 1"
        if self.noise_weighting not in mldata.NOISE_WEIGHTINGS:
            bad["noise_weighting"] = f"choose from {', '.join(mldata.NOISE_WEIGHTINGS)}"
        if not (isinstance(self.ema_momentum, (int, float)) and 0 <= self.ema_momentum < 1):
            bad["ema_momentum"] = "must be in [0, 1) (0 turns the weight average off)"
        if self.lr_schedule not in LR_SCHEDULES:
            bad["lr_schedule"] = f"choose from {', '.join(LR_SCHEDULES)}"
        if self.distribution not in distribute.DISTRIBUTIONS:
            bad["distribution"] = f"choose from {', '.join(distribute.DISTRIBUTIONS)}"
        if self.monitor not in MONITORS:
            bad["monitor"] = f"choose from {', '.join(MONITORS)}"
        if self.loss not in LOSSES:
            bad["loss"] = f"choose from {', '.join(LOSSES)}"
        if self.noise_kind not in mldata.TRAIN_NOISE_KINDS:
            bad["noise_kind"] = f"choose from {', '.join(mldata.TRAIN_NOISE_KINDS)}"
        try:
            lo, hi = (float(v) for v in self.variance_range)
            if not (0 <= lo <= hi and hi < 1 and math.isfinite(hi)):
                raise ValueError
        except (TypeError, ValueError):
            bad["variance_range"] = "two variances LOW <= HIGH in [0, 1)"
        if not (isinstance(self.val_fraction, (int, float)) and 0 < self.val_fraction < 1):
            bad["val_fraction"] = "must be between 0 and 1"
        if not (isinstance(self.central_fraction, (int, float)) and 0 < self.central_fraction <= 1):
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
        if self.arch != architectures.SEED_ARCH:
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


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


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
