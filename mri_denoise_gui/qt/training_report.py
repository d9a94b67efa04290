"""What the training dialog writes: the plan summary, durations, the result line, its saved settings.

Kept apart from the dialog so its text can be read and tested without a window, and so the
dialog module holds only widgets and their wiring.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from mri_denoise_gui.ml.training_config import defaults, field_info


def format_duration(seconds: float | None) -> str:
    """'1:05:03', '4:07' or '12 s': short and unambiguous."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "—"
    if seconds < 10:
        return f"{seconds:.1f} s"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _num(value, fmt: str) -> str:
    return format(value, fmt) if isinstance(value, (int, float)) else "—"


def _gain(best: dict, noisy: dict, key: str, fmt: str) -> str:
    a, b = best.get(key), noisy.get(key)
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return "—"
    return format(a - b, "+" + fmt)


def default_output_folder() -> str:
    return str(Path.home() / "mri-denoise-models" / f"model-{datetime.now():%Y%m%d-%H%M}")


def describe_plan(plan: dict, config: dict) -> str:
    """The "what will happen" summary as HTML."""
    train, val = plan.get("train", {}), plan.get("validation", {})
    slices = plan.get("slices") or {}

    def side(name: str, info: dict, n_slices) -> str:
        v = info.get("volumes", 0)
        text = f"<b>{name}</b>: {v} volume{'s' if v != 1 else ''}"
        if n_slices is not None:
            text += f", {n_slices:,} slices"
        return text

    split = {"slab": "one volume, split into slabs with a gap", "volume": "split by volume"}.get(
        plan.get("split"), str(plan.get("split", "")))
    if config.get("synthetic"):
        lines = [f"<b>Training</b>: synthetic contrasts from {slices.get('train', 0):,} MNI152 slices · "
                 f"<b>Validation</b>: {slices.get('validation', 0):,} other slices "
                 "<span style='color:#9aa0a8'>(the file list is not used)</span>"]
    else:
        lines = [f"{side('Training', train, slices.get('train'))} · "
                 f"{side('Validation', val, slices.get('validation'))} <span style='color:#9aa0a8'>({split})</span>"]
    epochs, steps, batch = config.get("epochs"), config.get("steps_per_epoch"), config.get("batch_size")
    patch = config.get("patch_size")
    lines.append(f"{epochs} epochs × {steps} steps × {batch} patches of {patch}×{patch} px "
                 f"= {plan.get('patches', 0):,} noisy patches, made on the fly")
    device = plan.get("device", "?")
    per_epoch = plan.get("seconds_per_epoch")
    if per_epoch is not None:
        total = per_epoch * (epochs or 0)
        lines.append(f"<b>Device</b>: {device} · about <b>{format_duration(per_epoch)}</b> per epoch "
                     f"(measured), {format_duration(total)} in total, plus loading the data")
    else:
        lines.append(f"<b>Device</b>: {device} · measuring the time per epoch…")
    start = f"fine-tunes <i>{Path(config['init_from']).name}</i>" if config.get("init_from") \
        else f"trains <i>{config.get('arch')}</i> from scratch"
    out = Path(str(config.get("out", "")))
    replace = " (replacing the model there)" if (out / "model.json").is_file() else ""
    monitor = field_info("monitor")["labels"].get(str(config.get("monitor", "val_loss")), str(config.get("monitor", "")))
    lines.append(f"Then {start}; the best model by {monitor} goes to <i>{out}</i>{replace}")
    return "<br>".join(lines)


def result_text(result: dict) -> str:
    """The HTML line under the curves once a run has ended (finished, cancelled, or nothing kept)."""
    best = result.get("best") or {}
    noisy = best.get("noisy_input") or {}
    folder, epochs = result.get("folder"), result.get("epochs_run", 0)
    if folder:
        text = (f"Best validation <b>SSIM {_num(best.get('ssim'), '.4f')}</b> "
                f"(noisy input {_num(noisy.get('ssim'), '.4f')}, {_gain(best, noisy, 'ssim', '.4f')}) · "
                f"<b>PSNR {_num(best.get('psnr'), '.2f')} dB</b> "
                f"(noisy input {_num(noisy.get('psnr'), '.2f')} dB, {_gain(best, noisy, 'psnr', '.2f')} dB) "
                f"at epoch {best.get('epoch', '?')} of {epochs} · saved in <i>{folder}</i>")
        if result.get("cancelled"):
            text = "Cancelled. The best model so far is kept. " + text
    elif result.get("cancelled"):
        text = "Cancelled before the first epoch finished: no model was saved."
    else:
        text = "Training ended without a usable checkpoint (no validation improvement)."
    return text


def config_from_settings(text: str, current_model_dir: str | None) -> dict:
    """The dialog's config from its saved JSON: the defaults, then every known saved field; the
    saved "fine_tune" flag fine-tunes the main window's current model (if any), never an old path."""
    config = defaults()
    try:
        saved = json.loads(text) if text else {}
    except ValueError:
        saved = {}
    if isinstance(saved, dict):
        config.update({k: v for k, v in saved.items() if k in config})
    config["init_from"] = current_model_dir if isinstance(saved, dict) and saved.get("fine_tune") else None
    if not config.get("out"):
        config["out"] = default_output_folder()
    return config


def settings_from_config(config: dict) -> str:
    """What is saved: the config without the fine-tuned model's path (only whether to fine-tune)."""
    saved = {k: v for k, v in config.items() if k != "init_from"}
    saved["fine_tune"] = bool(config.get("init_from"))
    return json.dumps(saved)
