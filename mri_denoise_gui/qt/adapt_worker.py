"""The adaptation worker: the training worker's thread, signals and cancel event, running `ml.adapt`.

Why a subclass and not a copy: adapting is a training run with another body (self-supervised
fine-tuning on the scan, then the guard), so it reuses `TrainingWorker`'s TensorFlow import in
its own thread, throttled progress, log relay and cancel handling, and `TrainingController`'s
thread ownership and shutdown. Only plain dicts cross back to the dialog.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Callable

from mri_denoise_gui.qt.training_worker import TrainingController, TrainingWorker

#: The `ml.adapt.AdaptConfig` fields the dialog may set (the rest keep their defaults).
ADAPT_FIELDS = ("files", "out", "init_from", "method", "minutes", "max_steps", "sigma", "noise", "axis",
                "volume_index", "seed")


def adapt_result_to_dict(result) -> dict:
    """`ml.adapt.AdaptResult` -> a plain dict (no denoiser, no arrays) for the GUI thread."""
    guard = (result.summary or {}).get("guard", {})
    return {"kept": bool(result.kept), "winner": result.winner, "gain_db": result.gain_db,
            "losses": result.losses, "estimated_psnr": guard.get("estimated_psnr", {}),
            "sigmas": [float(s) for s in result.sigmas], "epochs_run": int(result.epochs_run),
            "steps_run": int(result.steps_run), "seconds": float(result.seconds),
            "cancelled": bool(result.cancelled), "folder": str(result.folder) if result.folder else None,
            "rule": guard.get("rule", "")}


class AdaptWorker(TrainingWorker):
    """`run` adapts the starting model to the scan with `ml.adapt.adapt` and writes the kept result."""

    def run(self, config_dict: dict, progress: Callable[[dict], None], cancel: threading.Event) -> dict:
        from mri_denoise_gui.ml.adapt import AdaptConfig, adapt

        known = {f.name for f in dataclasses.fields(AdaptConfig)}
        config = AdaptConfig(**{k: v for k, v in config_dict.items() if k in known})
        self.started.emit(config.to_dict())
        return adapt_result_to_dict(adapt(config, progress=progress, cancel=cancel))


class AdaptController(TrainingController):
    """`TrainingController` whose thread runs an `AdaptWorker`."""

    worker_class = AdaptWorker
    thread_name = "adaptThread"
