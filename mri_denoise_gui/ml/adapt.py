"""Adapt a model to a scan: self-supervised fine-tuning on noisy volumes alone, with a guard.

Starts from any model folder (the shipped default by default), keeps its normaliser and its own
noise-level handling, and fine-tunes on patches of the noisy volume(s) with one of the two
families in ``adapt_data`` (recorrupted pairs or blind-spot masking). Held-out slices, scored by
the same self-supervised loss, pick the best epoch (Keras EarlyStopping restores it); a time
budget and the usual cancel event stop it. Then the guard (``ml.adapt_guard``): the adapted and
the starting model (and non-local means) are scored on the held-out slices without a reference
(core.noref: SURE, which decides, and the J-invariant loss, reported), and the adapted weights
are kept only if they win. The model folder is written atomically with the same ``save_model_folder`` as
supervised training, and only when the adaptation is kept.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mri_denoise_gui.core import noref
from mri_denoise_gui.core.rician import NOISE_MODELS, floor_map
from mri_denoise_gui.core.volume import load_volume
from mri_denoise_gui.ml.adapt_data import METHOD_NAMES, METHODS, SlicePool, masked_mse
from mri_denoise_gui.ml.adapt_guard import guard_decision, guard_scores

#: model.json keys that describe the file itself, rewritten by save_model_folder
_FILE_KEYS = ("format_version", "input_channels", "parameters", "created", "versions")
MIN_TISSUE_FRACTION = 0.05  # slices with less tissue than this are neither trained nor scored
CHECK_SLICES = 16
#: a scan with a single slice that holds tissue (a 2D DICOM, a thin stack) is cut into this many
#: equal strips across its longer side; the middle one is held out for the guard, the rest trained on
REGION_STRIPS = 3


@dataclass
class AdaptConfig:
    """Settings of one adaptation (what `mri-denoise adapt` and `denoise --adapt` fill in)."""

    files: list = field(default_factory=list)
    out: str | None = None  # model folder to write if the adaptation is kept (None: keep in memory only)
    init_from: str | None = None  # starting model folder (None: the shipped default)
    method: str = "r2r"
    minutes: float = 0.5  # training time budget (the guard's scoring comes on top)
    max_steps: int = 1200  # bench_adapt: +0.52 dB mean at 1200 steps vs +0.44 at 600, ~30 s a volume
    steps_per_epoch: int = 50
    patch_size: int = 64
    batch_size: int = 8
    learning_rate: float = 3e-4  # bench_adapt: 3e-4 gave +0.44 dB mean, 1e-4 +0.36 (600 steps)
    #: steps (at most a quarter of max_steps) over which the rate rises linearly from 0 to
    #: learning_rate (0: none): a fresh Adam's first steps move every weight by about the full
    #: rate, a shock to a converged network. adapt_probe, development data: 200 steps lifted the
    #: unguarded mean change from +0.55 to +0.62 dB on volumes and +0.02 to +0.10 on single
    #: slices, but what the guard keeps by only +0.01 dB, short of the rule set before; so not the
    #: default (benchmarks/README.md)
    warmup_steps: int = 0
    sigma: float | None = None  # noise sigma on the normalised scale; None: estimated per volume
    alpha: float = 1.0  # R2R recorruption strength: input y + alpha z, target y - z / alpha
    #: the scan's noise: "rician" (magnitude MRI) takes the noise floor out of the r2r targets
    #: (core.rician), "gaussian" leaves them as y - z / alpha
    noise: str = "rician"
    box: int = 8  # N2V: one blind spot per box x box cell (1/64 = 1.6% of the pixels)
    val_slices: int = 6  # held-out slices per volume (at most a third of its usable slices)
    patience: int = 3
    guard_masks: int = 4  # J-invariant grid phases (of 16) the guard scores
    guard_nlm: bool = True  # also score non-local means, for the report
    guard_margin_db: float = 0.05  # the adapted model must beat the start by this much (estimated)
    axis: int = 2
    volume_index: int = 0
    seed: int = 0

    def validate(self) -> dict:
        bad: dict[str, str] = {}
        if not self.files:
            bad["files"] = "give at least one noisy NIfTI file"
        if self.noise not in NOISE_MODELS:
            bad["noise"] = f"choose from {', '.join(NOISE_MODELS)}"
        if self.method not in METHODS:
            bad["method"] = f"choose from {', '.join(METHODS)}"
        if not (isinstance(self.minutes, (int, float)) and 0 < self.minutes <= 24 * 60):
            bad["minutes"] = "must be more than 0 (and at most a day)"
        if not (isinstance(self.warmup_steps, int) and not isinstance(self.warmup_steps, bool)
                and self.warmup_steps >= 0):
            bad["warmup_steps"] = "must be a whole number >= 0"
        for name in ("max_steps", "steps_per_epoch", "batch_size", "val_slices", "patience", "guard_masks"):
            value = getattr(self, name)
            if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
                bad[name] = "must be a whole number >= 1"
        if not (isinstance(self.patch_size, int) and self.patch_size >= 16):
            bad["patch_size"] = "must be a whole number >= 16"
        if not (isinstance(self.learning_rate, (int, float)) and 0 < self.learning_rate < 1):
            bad["learning_rate"] = "must be between 0 and 1"
        if self.sigma is not None and not (isinstance(self.sigma, (int, float)) and 0 < self.sigma < 1):
            bad["sigma"] = "must be between 0 and 1 (a fraction of the normalised range), or unset"
        if not (isinstance(self.alpha, (int, float)) and 0 < self.alpha <= 10):
            bad["alpha"] = "must be in (0, 10]"
        if not (isinstance(self.box, int) and 3 <= self.box <= 32):
            bad["box"] = "must be a whole number in 3..32"
        if self.axis not in (0, 1, 2):
            bad["axis"] = "must be 0, 1 or 2"
        return bad

    def to_dict(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(self).items()}


@dataclass
class AdaptResult:
    """What happened: the scores, the decision, and the denoiser to use now."""

    kept: bool
    winner: str  # best by SURE among the kept model and non-local means
    losses: dict  # {"j_invariant": {...}, "sure_mse": {...}} of "start", "adapted" (and "nlm") on held-out slices
    gain_db: float | None  # estimated (SURE) tissue PSNR gain of the adapted model over the start
    sigmas: list  # estimated noise sigma per file (normalised units)
    epochs_run: int
    steps_run: int
    seconds: float
    cancelled: bool
    folder: Path | None
    denoiser: object  # ml.inference.Denoiser holding the kept weights (adapted or restored)
    summary: dict = field(default_factory=dict)  # what model.json records under "adaptation"
    #: the weights the adaptation reached, kept or not (None if cancelled): lets a benchmark score
    #: what the guard rejected, so the guard itself can be judged
    adapted_weights: list | None = None


# ------------------------------------------------------------------ data

@dataclass
class _Scan:
    path: str
    slices: np.ndarray  # (N, H, W) normalised noisy slices along the adaptation axis
    sigma: float
    train: list
    val: list
    check: list  # up to CHECK_SLICES usable slices (trained on or not) for the guard's second test
    held_out: object  # what model.json records: the held-out slice indices, or the region


def strips(image: np.ndarray, n: int = REGION_STRIPS) -> tuple[np.ndarray, int]:
    """``image`` (2D) cut into ``n`` equal strips across its longer side (the remainder dropped),
    stacked like slices; returns (strips, the axis of ``image`` that was cut)."""
    cut = 0 if image.shape[0] >= image.shape[1] else 1
    size = image.shape[cut] // n
    parts = [np.take(image, np.arange(k * size, (k + 1) * size), axis=cut) for k in range(n)]
    return np.stack(parts), cut


def _load_scan(path, denoiser, config: AdaptConfig) -> _Scan:
    vol = load_volume(path, volume_index=config.volume_index)
    data = np.asarray(vol.data, dtype=np.float32)
    norm = denoiser.normalizer().fit(data)
    data01 = norm.forward(data, clip=True)
    stack = data01[None] if data01.ndim == 2 else np.moveaxis(data01, config.axis, 0)
    mask = noref.tissue_mask(stack)
    usable = [i for i in range(len(stack)) if mask[i].mean() >= MIN_TISSUE_FRACTION]
    if len(usable) < 2:  # one slice with tissue: hold out a region of it instead of slices
        k = usable[0] if usable else int(np.argmax(mask.mean(axis=(1, 2))))
        stack, cut = strips(stack[k])
        mask = noref.tissue_mask(stack)
        usable = [i for i in range(len(stack)) if mask[i].mean() >= MIN_TISSUE_FRACTION]
        if len(usable) < 2 or min(stack.shape[1:]) < 16:
            raise ValueError(f"{path}: adaptation needs tissue in at least 2 slices along axis {config.axis}, "
                             f"or in 2 of {REGION_STRIPS} strips of its one slice; found too little")
        middle = min(usable, key=lambda i: abs(i - (len(stack) - 1) / 2))
        val, train = [middle], [i for i in usable if i != middle]
        held_out = {"region": f"strip {middle + 1} of {REGION_STRIPS} across axis {cut} of slice {k}"}
    else:
        n_val = min(config.val_slices, max(1, len(usable) // 3))
        picks = np.linspace(0, len(usable) - 1, n_val + 2)[1:-1].round().astype(int)
        val = sorted({usable[k] for k in picks})
        train = [i for i in usable if i not in val]
        held_out = val
    sigma = float(config.sigma) if config.sigma else scan_sigma(data, stack, mask, norm.scale, config.axis)
    check = sorted({usable[k] for k in np.linspace(0, len(usable) - 1, CHECK_SLICES).round().astype(int)})
    return _Scan(str(path), stack, max(sigma, 1e-4), train, val, check, held_out)


def scan_sigma(data, stack01, mask, scale: float, axis: int) -> float:
    """Noise sigma on the normalised scale: the smaller of the tissue and the background estimate.
    Why the smaller: fine texture inflates the tissue estimate (by ~10% at sigma 3% on synthetic
    MNI volumes) and ghosting the background one; both err upwards, and an overestimate makes R2R
    (and SURE) favour over-smoothing."""
    tissue = noref.estimate_sigma(stack01, axis=0, mask=mask)
    background = noref.background_sigma(data, axis=axis) if np.asarray(data).ndim == 3 else None
    return min(tissue, background / scale) if background else tissue


def _patch_size(config: AdaptConfig, scans, stride: int) -> int:
    """The asked-for patch, shrunk to fit the smallest slice, in whole strides."""
    smallest = min(min(s.slices.shape[1:]) for s in scans)
    fit = max(stride, (min(config.patch_size, smallest) // stride) * stride)
    return max(fit, 16 if stride <= 16 else stride)


def _pool(scans, which: str, seed: int, noise: str) -> SlicePool:
    slices, sigmas, floors = [], [], []
    for s in scans:
        picked = s.slices[getattr(s, which)]
        slices.extend(picked)
        sigmas.extend([s.sigma] * len(picked))
        if noise == "rician":
            floors.extend(floor_map(picked, s.sigma)[1])
    return SlicePool(slices, sigmas, rng=np.random.default_rng(seed), floors=floors if noise == "rician" else None)


# ------------------------------------------------------------------ the run

def _callbacks(config, progress, cancel, epochs):
    import keras

    from mri_denoise_gui.ml.train import CancelCallback, ProgressCallback

    class TimeBudget(keras.callbacks.Callback):
        """Stops fit() after a batch once the time budget is spent, but never inside the first
        epoch (a loaded machine can spend seconds tracing the first step)."""

        def __init__(self, seconds: float, minimum_steps: int):
            super().__init__()
            self.seconds, self.minimum_steps, self.started, self.steps = seconds, minimum_steps, 0.0, 0

        def on_train_begin(self, logs=None):
            self.started = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1
            if self.steps >= self.minimum_steps and time.perf_counter() - self.started > self.seconds:
                self.model.stop_training = True

    class Warmup(keras.callbacks.Callback):
        """The rate rises linearly over the first ``steps`` steps (``AdaptConfig.warmup_steps``)."""

        def __init__(self, rate: float, steps: int):
            super().__init__()
            self.rate, self.steps, self.step = rate, steps, 0

        def on_train_batch_begin(self, batch, logs=None):
            if self.step <= self.steps:
                self.model.optimizer.learning_rate = self.rate * min(1.0, (self.step + 1) / self.steps)
            self.step += 1

    stopper = keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience,
                                            restore_best_weights=True)
    canceller = CancelCallback(cancel)
    callbacks = [keras.callbacks.TerminateOnNaN(), stopper, TimeBudget(60.0 * config.minutes, config.steps_per_epoch)]
    warmup = min(config.warmup_steps, config.max_steps // 4)  # a short run still trains at its rate
    if warmup:
        callbacks.insert(0, Warmup(config.learning_rate, warmup))
    if progress is not None:
        callbacks.append(ProgressCallback(progress, epochs, config.steps_per_epoch))
    callbacks.append(canceller)
    return callbacks, canceller


def _ready_to_train(model, learning_rate: float) -> None:
    """Compile ``model`` with Adam and the masked loss unless an earlier adaptation did (and nothing
    compiled it otherwise since); then reset that Adam (moments, step count) and set its rate.

    Why not compile every time: a new compile makes Keras trace new train and test steps, and the
    old ones (~2,400 objects in reference cycles per adaptation) cost a 1.5-2 s collection pause
    each, holding the GIL in the window (benchmarks/README.md, "Switching precision ...")."""
    import keras

    optimizer = getattr(model, "optimizer", None)  # not set before a first compile
    if model.loss is not masked_mse or not isinstance(optimizer, keras.optimizers.Adam):
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=masked_mse)
        return
    for variable in optimizer.variables:
        variable.assign(np.zeros(variable.shape, variable.dtype))
    optimizer.learning_rate = learning_rate


def adapt_loaded(denoiser, config: AdaptConfig, progress=None, cancel: threading.Event | None = None) -> AdaptResult:
    """Adapt an already loaded ``ml.inference.Denoiser`` in place (its weights end up adapted if
    the guard keeps them, or as they started); see the module doc."""
    precision = denoiser.precision_requested
    denoiser.set_precision("float32")  # train and score the weights themselves, not a stale bf16 copy
    try:
        return _adapt_loaded(denoiser, config, progress, cancel)
    finally:
        denoiser.set_precision(precision)  # the fast copy, rebuilt from the final weights


def _adapt_loaded(denoiser, config: AdaptConfig, progress, cancel) -> AdaptResult:
    import keras
    import tensorflow as tf

    bad = config.validate()
    if bad:
        raise ValueError("invalid adaptation settings: " + "; ".join(f"{k}: {v}" for k, v in bad.items()))
    cancel = cancel or threading.Event()
    started = time.perf_counter()
    keras.utils.set_random_seed(config.seed)
    scans = [_load_scan(p, denoiser, config) for p in config.files]
    patch = _patch_size(config, scans, denoiser.stride)
    model = denoiser.model
    initial = model.get_weights()
    before = guard_scores(denoiser, scans, config, nlm=config.guard_nlm)

    train_pool = _pool(scans, "train", config.seed, config.noise)
    val_pool = _pool(scans, "val", config.seed + 1, config.noise)
    n_val = max(config.batch_size, 4 * config.batch_size)
    val_x, val_y = val_pool.batch(n_val, config.method, patch, config.alpha, config.box)

    def stream():
        while True:
            yield train_pool.batch(config.batch_size, config.method, patch, config.alpha, config.box)

    spec = (tf.TensorSpec((config.batch_size, patch, patch, 1), tf.float32),
            tf.TensorSpec((config.batch_size, patch, patch, 2), tf.float32))
    dataset = tf.data.Dataset.from_generator(stream, output_signature=spec).prefetch(2)
    epochs = max(1, math.ceil(config.max_steps / config.steps_per_epoch))
    _ready_to_train(model, config.learning_rate)
    start_val = float(model.evaluate(val_x, val_y, batch_size=config.batch_size, verbose=0))
    # Collect the garbage of earlier runs now rather than inside the timed training (a generation-2
    # collection inside the budget once took 41 s, when every run left its copies and traced graphs)
    gc.collect()
    callbacks, canceller = _callbacks(config, progress, cancel, epochs)
    history = model.fit(dataset, epochs=epochs, steps_per_epoch=config.steps_per_epoch,
                        validation_data=(val_x, val_y), validation_batch_size=config.batch_size,
                        callbacks=callbacks, verbose=0,
                        shuffle=False)  # the tf.data stream draws random patches already
    epochs_run = len(history.epoch)
    steps_run = int(model.optimizer.iterations.numpy())
    train_seconds = time.perf_counter() - started

    if canceller.cancelled:
        model.set_weights(initial)
        return AdaptResult(False, "starting model", {}, None, [s.sigma for s in scans], epochs_run,
                           steps_run, train_seconds, True, None, denoiser)
    guard = guard_decision(before, guard_scores(denoiser, scans, config, nlm=False), config.guard_margin_db)
    adapted_weights = model.get_weights()
    if not guard["kept"]:
        model.set_weights(initial)
    summary = {
        "files": [s.path for s in scans],
        "method": config.method,
        "method_name": METHOD_NAMES[config.method],
        "sigma": {s.path: round(s.sigma, 5) for s in scans},
        "sigma_source": "given" if config.sigma else "estimated: the smaller of the tissue and background estimates",
        "settings": {k: v for k, v in config.to_dict().items() if k not in ("files", "out")},
        "patch_size": patch,
        "held_out_slices": {s.path: s.held_out for s in scans},
        "self_supervised_val_loss": {"start": start_val,
                                     "best": float(min(history.history.get("val_loss", [start_val]) + [start_val]))},
        "guard": guard,
        "epochs_run": epochs_run,
        "steps_run": steps_run,
        "seconds": round(time.perf_counter() - started, 1),
    }
    return AdaptResult(guard["kept"], guard["winner"], guard["scores"], guard["estimated_gain_db"],
                       [s.sigma for s in scans], epochs_run, steps_run, time.perf_counter() - started, False,
                       None, denoiser, summary, adapted_weights)


def adapted_metadata(denoiser, summary: dict, name: str) -> dict:
    """The starting model's model.json, renamed, with what the adaptation did recorded."""
    meta = {k: v for k, v in denoiser.info.items() if k not in _FILE_KEYS}
    meta["name"] = name
    meta["fine_tuned_from"] = str(denoiser.folder)
    meta["adaptation"] = summary
    return meta


def adapt(config: AdaptConfig, progress=None, cancel: threading.Event | None = None) -> AdaptResult:
    """Load the starting model, adapt it to ``config.files`` and, if the guard keeps the result and
    ``config.out`` is set, write it there as a complete model folder."""
    from mri_denoise_gui.ml.inference import Denoiser
    from mri_denoise_gui.ml.modelfile import save_model_folder
    from mri_denoise_gui.resources import default_model_dir

    bad = config.validate()
    if bad:
        raise ValueError("invalid adaptation settings: " + "; ".join(f"{k}: {v}" for k, v in bad.items()))
    denoiser = Denoiser.load(config.init_from or default_model_dir())
    result = adapt_loaded(denoiser, config, progress=progress, cancel=cancel)
    if result.kept and config.out:
        out = Path(config.out).resolve()
        result.folder = save_model_folder(denoiser.model, out, adapted_metadata(denoiser, result.summary, out.name))
    return result
