"""Training and fine-tuning: a plan, and ``train`` driven by Keras callbacks.

The GUI's training dialog edits a ``TrainingConfig`` (``training_config.py``) and runs ``train`` in a worker with a
progress hook and a cancel event; the CLI and ``packaging/train_shipped_models.py`` call the
same function. The output folder only ever holds a complete best model (or nothing).
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from mri_denoise_gui.core.errors import first_line
from mri_denoise_gui.core.normalize import Normalizer
from mri_denoise_gui.core.outputs import write_file_atomic
from mri_denoise_gui.ml import architectures, data as mldata, distribute, precision as mlprecision
from mri_denoise_gui.ml.device import configure_devices
from mri_denoise_gui.ml.errors import ModelError
from mri_denoise_gui.ml.inference import _check_network, _load_keras
from mri_denoise_gui.ml.losses import get_loss, psnr_metric, ssim_metric
from mri_denoise_gui.ml.modelfile import META_FILE, MODEL_FILE, check_model_folder, save_model_folder
from mri_denoise_gui.ml.synthetic_sets import (  # noqa: F401 - re-exported
    SYNTH_TEST_SLAB, SYNTH_TRAIN_SLABS, SYNTH_VAL_SLAB, synthetic_validation_pairs, synthetic_training)
from mri_denoise_gui.ml.training_config import LR_SCHEDULES, MONITORS, TrainingConfig  # noqa: F401 - re-exported
from mri_denoise_gui.ml.training_plan import epoch_summary  # noqa: F401 - re-exported


@dataclass
class TrainingResult:
    folder: Path | None
    best: dict
    epochs_run: int
    cancelled: bool
    replicas: int = 1
    chief: bool = True  # False on a multi-worker run's other workers, which write no model


# ------------------------------------------------------------------ data preparation

@dataclass
class _Prepared:
    train_sampler: Callable[[int], object]
    val_noisy: np.ndarray
    val_clean: np.ndarray
    summary: dict


def _axes(config: TrainingConfig) -> tuple[int, ...]:
    return (0, 1, 2) if config.all_axes else (2,)


def _slice_counts(regions, axes, fraction) -> list[dict]:
    return [{"file": r.path, "z_range": list(r.z_range),
             "slices": int(sum(r.n_slices(a, fraction) for a in axes))} for r in regions]


def _prepare(config: TrainingConfig) -> _Prepared:
    patch = config.patch_size
    if config.synthetic:
        factory, val_noisy, val_clean, summary = synthetic_training(config)
        return _Prepared(factory, val_noisy, val_clean, summary)
    files = mldata.find_nifti_files(config.data)
    normalizer = Normalizer.from_dict(config.normalizer)
    train_r, val_r, mode = mldata.load_regions(files, normalizer, config.val_fraction, config.seed,
                                               config.volume_index)
    axes = _axes(config)

    def factory(seed):
        return mldata.VolumePatchSampler(train_r, patch, axes, config.central_fraction,
                                         rng=np.random.default_rng(seed))

    val_rng = np.random.default_rng(config.seed + mldata.VALIDATION_PATCH_SEED_OFFSET)
    val_sampler = mldata.VolumePatchSampler(val_r, patch, axes, config.central_fraction, rng=val_rng)
    summary = {
        "source": "files",
        "split": "by slab along file axis 2 with a gap" if mode == "slab" else "by volume",
        "axes": list(axes),
        "central_fraction": config.central_fraction,
        "train": _slice_counts(train_r, axes, config.central_fraction),
        "validation": _slice_counts(val_r, axes, config.central_fraction),
    }
    val_noisy, val_clean = mldata.validation_pairs(val_sampler, config.val_patches, config.noise_kind,
                                                   config.variance_range,
                                                   seed=config.seed + mldata.VALIDATION_NOISE_SEED_OFFSET)
    return _Prepared(factory, val_noisy, val_clean, summary)


def _check_config(config: TrainingConfig) -> None:
    """ValueError unless ``config`` validates and its patches fit the training images."""
    bad = config.validate()
    if bad:
        raise ValueError("invalid training settings: " + "; ".join(f"{k}: {v}" for k, v in bad.items()))
    if config.synthetic:
        return
    smallest = mldata.smallest_slice(mldata.find_nifti_files(config.data), _axes(config))
    if smallest and config.patch_size > smallest[0]:
        side, path = smallest
        raise ValueError(f"patch_size: {config.patch_size} is larger than the {side}-pixel side of the slices of "
                         f"{path.name}; use a patch of at most {side}")


def plan(config: TrainingConfig) -> dict:
    """What training would use: volumes and slices for train and validation, and the device."""
    _check_config(config)
    if config.synthetic:
        train_slices = sum(b - a for a, b in SYNTH_TRAIN_SLABS)
        out = {"train": {"volumes": 1, "slices": train_slices},
               "validation": {"volumes": 1, "slices": SYNTH_VAL_SLAB[1] - SYNTH_VAL_SLAB[0]},
               "split": "synthetic MNI slabs"}
    else:
        files = mldata.find_nifti_files(config.data)
        train_f, val_f, mode = mldata.split_by_volume(files, config.val_fraction, config.seed)
        out = {"train": {"volumes": len(train_f), "files": [str(f) for f in train_f]},
               "validation": {"volumes": len(val_f), "files": [str(f) for f in val_f]},
               "split": "slab" if mode == "slab" else "volume"}
    out["device"] = configure_devices()
    out["steps"] = config.epochs * config.steps_per_epoch
    out["patches"] = out["steps"] * config.batch_size
    return out


# ------------------------------------------------------------------ callbacks

class CosineEpochs:
    """Learning rate for an epoch: a half cosine from ``start`` down to ``floor * start`` over
    ``epochs``. Why: a fixed budget with no stall test. The plateau test's min_delta (1e-4) is more
    than a low validation loss of averaged (EMA) weights moves in an epoch, so there it halves the
    rate every ``lr_patience`` epochs while validation PSNR is still rising."""

    def __init__(self, start: float, epochs: int, floor: float = 0.02):
        self.start, self.epochs, self.floor = float(start), max(int(epochs), 1), float(floor)

    def __call__(self, epoch: int, lr=None) -> float:
        t = min(epoch, self.epochs - 1) / max(self.epochs - 1, 1)
        low = self.start * self.floor
        return low + 0.5 * (self.start - low) * (1.0 + math.cos(math.pi * t))


def _floats(logs) -> dict:
    out = {}
    for k, v in (logs or {}).items():
        try:
            out[k] = float(v)
        except (TypeError, ValueError):
            pass
    return out


class ProgressCallback(keras.callbacks.Callback):
    """Forwards train_begin / batch / epoch / train_end events with logs to a plain function.

    Events other than batches carry the noisy input's validation scores (``noisy_input``); epoch
    events also say the best epoch so far and whether this one was just published (``best_epoch``,
    ``published``), so listeners never have to re-read model.json to know.
    """

    def __init__(self, hook, epochs: int, steps: int, replicas: int = 1, publisher=None,
                 noisy_input: dict | None = None):
        super().__init__()
        self.hook, self.epochs, self.steps, self.epoch, self.replicas = hook, epochs, steps, 0, replicas
        self.publisher, self.noisy_input = publisher, noisy_input

    def _send(self, kind, batch=0, logs=None):
        event = {"kind": kind, "epoch": self.epoch, "epochs": self.epochs, "batch": batch,
                 "steps": self.steps, "replicas": self.replicas, "logs": _floats(logs)}
        if kind != "batch" and self.noisy_input is not None:
            event["noisy_input"] = dict(self.noisy_input)
        if kind == "epoch" and self.publisher is not None:
            event["best_epoch"] = self.publisher.best_epoch
            event["published"] = self.publisher.published_epoch == self.epoch
        self.hook(event)

    def on_train_begin(self, logs=None):
        self._send("train_begin")

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        self._send("batch", batch + 1, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._send("epoch", self.steps, logs)

    def on_train_end(self, logs=None):
        self._send("train_end", 0, logs)


class CancelCallback(keras.callbacks.Callback):
    """Stops fit() at the end of the current batch once ``event`` is set (and skips validation)."""

    def __init__(self, event: threading.Event):
        super().__init__()
        self.event = event
        self.cancelled = False

    def on_train_batch_end(self, batch, logs=None):
        if self.event.is_set():
            self.cancelled = True
            self.model.stop_training = True  # only safe once fit() has started: fit() resets it

    def on_test_batch_begin(self, batch, logs=None):
        if self.event.is_set():
            self.cancelled = True
            self.model.stop_evaluating = True


class BestModelPublisher(keras.callbacks.Callback):
    """Best checkpoint on validation SSIM, published atomically as a complete model folder."""

    def __init__(self, folder: Path, metadata: Callable[[int, dict], dict], cancel: threading.Event,
                 log_file: Path, monitor: str = "val_loss"):
        super().__init__()
        self.folder, self.metadata, self.cancel = folder, metadata, cancel
        self.log_file, self.monitor = log_file, monitor
        self.sign = -1.0 if MONITORS[monitor] == "min" else 1.0
        self.best = -math.inf
        self.best_logs: dict = {}
        self.best_epoch = 0
        self.published_epoch = 0  # the epoch written to ``folder`` (0: nothing; stays 0 off the chief's folder)

    def on_epoch_end(self, epoch, logs=None):
        logs = _floats(logs)
        if self.cancel.is_set():  # a cut-short epoch is not a fair checkpoint
            return
        value = logs.get(self.monitor)
        if value is None or not math.isfinite(value) or self.sign * value <= self.best:
            return
        value = self.sign * value
        self.best, self.best_logs, self.best_epoch = value, logs, epoch + 1
        save_model_folder(mlprecision.float32_copy(self.model), self.folder, self.metadata(epoch + 1, logs),
                          extra_files={"training_log.csv": self.log_file})
        self.published_epoch = epoch + 1


# ------------------------------------------------------------------ the training run

def _initial_model(config: TrainingConfig):
    if config.init_from:
        path = Path(config.init_from) / MODEL_FILE
        try:
            meta = check_model_folder(config.init_from)
            model = _load_keras(path)
            _check_network(model, path)
        except ModelError as exc:
            raise ModelError(f"cannot fine-tune: {exc}") from None
        arch, options = meta["architecture"], meta.get("architecture_options", {})
        wanted = dict(config.arch_options or {})
        if wanted and wanted != options:  # grow the trained network into the asked-for options
            if config.arch != arch:
                raise ModelError(f"cannot fine-tune a {arch} model as {config.arch}")
            try:
                return architectures.grow(model, arch, **wanted), arch, wanted
            except ValueError as exc:
                raise ModelError(f"cannot fine-tune {config.init_from} with options {wanted}: {exc}") from None
        return model, arch, options
    return architectures.build(config.arch, **(config.arch_options or {})), config.arch, dict(config.arch_options or {})


def _noisy_baseline(noisy, clean) -> dict:
    return {"ssim": float(tf.reduce_mean(ssim_metric(clean, noisy))),
            "psnr": float(tf.reduce_mean(psnr_metric(clean, noisy)))}


def train(config: TrainingConfig, progress=None, cancel: threading.Event | None = None) -> TrainingResult:
    """Train (or fine-tune) per ``config``; returns where the best model went and its metrics."""
    _check_config(config)
    strategy = distribute.make_strategy(config.distribution)  # first: multi-worker set-up must precede TF ops
    replicas, chief = int(strategy.num_replicas_in_sync), distribute.is_chief(strategy)
    cancel = cancel or threading.Event()
    # only the chief writes the model; the other workers save into a folder of their own, then drop it
    scratch = None if chief else Path(tempfile.mkdtemp(prefix="mri-denoise-worker-"))
    out = Path(config.out).resolve() if chief else scratch / Path(config.out).name
    stream_seed = config.seed if config.stream_seed is None else int(config.stream_seed)
    keras.utils.set_random_seed(stream_seed)
    device = configure_devices()
    compute, compute_why = mlprecision.training_precision(config.precision, device)
    started = time.time()
    prepared = _prepare(config)
    noisy_metrics = _noisy_baseline(prepared.val_noisy, prepared.val_clean)

    with strategy.scope():  # variables (model, optimizer, metrics) live on every replica
        model, arch, arch_options = _initial_model(config)
        model = mlprecision.training_copy(model, compute)  # the same float32 weights, mixed compute
        ema = {"use_ema": True, "ema_momentum": float(config.ema_momentum)} if config.ema_momentum else {}
        optimizer = mlprecision.training_optimizer(keras.optimizers.Adam(config.learning_rate, **ema), compute)
        model.compile(optimizer=optimizer,
                      loss=get_loss(config.loss), metrics=[ssim_metric, psnr_metric])
    distribute.keep_fit_working(model, strategy)
    global_batch = config.batch_size * replicas
    dataset = mldata.training_dataset(prepared.train_sampler, config.patch_size, global_batch,
                                      config.noise_kind, config.variance_range,
                                      seed=stream_seed + 7919 * distribute.worker_index(strategy),
                                      weighting=config.noise_weighting, low_share=float(config.low_noise_share))
    if config.distribution != "none":
        dataset = distribute.distribute_dataset(strategy, dataset)

    created = [p for p in (out.parent, *out.parent.parents) if not p.exists()]  # removed again if no model
    out.parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f".{out.name}.training-", dir=out.parent))
    log_file = workdir / "training_log.csv"

    def metadata(epoch: int, logs: dict) -> dict:
        return {
            "name": out.name,
            "architecture": arch,
            "architecture_options": arch_options,
            "stride": architectures.stride(arch, **arch_options) if arch in architectures.ARCHITECTURES else 8,
            "normalizer": Normalizer.from_dict(config.normalizer).to_dict(),
            "noise": {"kind": config.noise_kind, "variance_range": list(config.variance_range),
                      "sigma_range": list(mldata.sigma_range(config.variance_range)),
                      "sampling": "sigma uniform per patch" + (
                          f"; {config.low_noise_share:g} of patches uniform in [low, 3 %]"
                          if config.low_noise_share else ""),
                      "loss_weighting": config.noise_weighting},
            "training_data": prepared.summary,
            "validation": {"ssim": logs.get("val_ssim_metric"), "psnr": logs.get("val_psnr_metric"),
                           "loss": logs.get("val_loss"), "epoch": epoch, "selected_by": config.monitor,
                           "noisy_input": noisy_metrics, "patches": int(len(prepared.val_noisy))},
            "epochs_run": epoch,
            "training_seconds": round(time.time() - started, 1),
            "device": device,
            "training_precision": {"requested": config.precision, "ran": compute, "why": compute_why,
                                   "weights": "float32"},
            "distribution": {"strategy": config.distribution, "replicas": replicas},
            "fine_tuned_from": str(config.init_from) if config.init_from else None,
            "config": config.to_dict(),
        }

    publisher = BestModelPublisher(out, metadata, cancel, log_file, monitor=config.monitor)
    canceller = CancelCallback(cancel)
    if config.lr_schedule == "cosine":
        schedule = keras.callbacks.LearningRateScheduler(CosineEpochs(config.learning_rate, config.epochs))
    else:
        schedule = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=config.lr_patience,
                                                     min_lr=1e-5, verbose=0)
    callbacks = [keras.callbacks.TerminateOnNaN(), schedule, keras.callbacks.CSVLogger(str(log_file))]
    if config.ema_momentum:  # validate and publish the averaged weights
        callbacks.append(keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
    callbacks.append(publisher)
    if config.tensorboard and chief:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(out.parent / f"{out.name}_tensorboard")))
    if progress is not None:  # before the canceller, so a cancel set from the hook stops this batch
        callbacks.append(ProgressCallback(progress, config.epochs, config.steps_per_epoch, replicas,
                                          publisher=publisher if chief else None, noisy_input=noisy_metrics))
    callbacks.append(canceller)
    try:
        history = model.fit(dataset, epochs=config.epochs, steps_per_epoch=config.steps_per_epoch,
                            validation_data=(prepared.val_noisy, prepared.val_clean),
                            validation_batch_size=global_batch, callbacks=callbacks, verbose=0,
                            shuffle=False)  # the tf.data stream is shuffled already
        epochs_run = len(history.epoch)
    finally:
        shutil.rmtree(scratch or workdir, ignore_errors=True)
        if chief and not publisher.best_epoch:
            _remove_empty(created)
    if chief and publisher.best_epoch and epochs_run != publisher.best_epoch:
        _record_epochs_run(out, epochs_run, round(time.time() - started, 1))
    if publisher.best_epoch:
        _write_lite_copy(out)
    best = {"ssim": publisher.best_logs.get("val_ssim_metric"), "psnr": publisher.best_logs.get("val_psnr_metric"),
            "epoch": publisher.best_epoch, "noisy_input": noisy_metrics}
    return TrainingResult(folder=out if publisher.best_epoch and chief else None, best=best,
                          epochs_run=epochs_run, cancelled=canceller.cancelled, replicas=replicas, chief=chief)


def _remove_empty(folders) -> None:
    """Remove the (deepest first) folders a run created for a model it never published, if still empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def _write_lite_copy(folder: Path) -> None:
    """model.tflite beside the best model.keras, so the GUI shows its first slices before TF loads."""
    import logging

    from mri_denoise_gui.ml.litert import write_lite_copy

    try:
        write_lite_copy(folder)
    except Exception as exc:  # optional: without it the GUI just waits for TensorFlow
        logging.getLogger(__name__).warning("no LiteRT copy of %s: %s", folder, first_line(exc))


def _record_epochs_run(folder: Path, epochs_run: int, seconds: float) -> None:
    """Note the total epochs in model.json (atomic rewrite of that one file)."""
    meta_path = folder / META_FILE
    meta = json.loads(meta_path.read_text())
    meta["epochs_run"] = epochs_run
    meta["training_seconds"] = seconds
    write_file_atomic(meta_path, json.dumps(meta, indent=2) + "\n")
