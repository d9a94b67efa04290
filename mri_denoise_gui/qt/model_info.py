"""What the Model panel says about a model folder, from its model.json (no TensorFlow, no Qt)."""

from __future__ import annotations

from pathlib import Path


def _num(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _options_text(opts: dict) -> str:
    """"width 16, noise level, wiener (block 4, stride 2)": a switch reads as its name, and the
    options named after a switch that is on (wiener_block) read inside its brackets."""
    on = [k for k, v in opts.items() if v is True]
    parts = []
    for k, v in opts.items():
        if v is None or v is False or any(k.startswith(f"{s}_") for s in on):
            continue
        if v is not True:
            parts.append(f"{k} {v}")
            continue
        sub = [f"{o[len(k) + 1:]} {w}" for o, w in opts.items() if o.startswith(f"{k}_") and w is not None]
        parts.append(k.replace("_", " ") + (f" ({', '.join(sub)})" if sub else ""))
    return ", ".join(parts)


def model_summary(info: dict) -> tuple[str, str]:
    """(short summary, full tooltip) from model.json; every field is optional."""
    lines = []
    arch = info.get("architecture")
    if isinstance(arch, dict):
        arch = arch.get("name")
    if arch:
        opts = info.get("architecture_options") or {}
        detail = _options_text(opts) if isinstance(opts, dict) else ""
        params = _num(info.get("parameters"))
        lines.append(f"{arch}" + (f" ({detail})" if detail else "") + (f" · {int(params):,} parameters" if params else ""))
    noise = info.get("noise")
    if isinstance(noise, dict) and noise:
        rng = noise.get("variance_range") or noise.get("variance")
        if isinstance(rng, (list, tuple)) and len(rng) == 2:
            rng = f"{rng[0]:g}–{rng[1]:g}"
        lines.append(f"trained on {noise.get('kind', '?')} noise" + (f", variance {rng}" if rng is not None else ""))
    val = info.get("validation")
    if isinstance(val, dict) and _num(val.get("ssim")) is not None:
        text = f"validation SSIM {val['ssim']:.3f}"
        base = val.get("noisy_input") if isinstance(val.get("noisy_input"), dict) else {}
        if _num(base.get("ssim")) is not None:
            text += f" (noisy {base['ssim']:.3f})"
        if _num(val.get("psnr")) is not None:
            text += f", PSNR {val['psnr']:.1f} dB" + (f" (noisy {base['psnr']:.1f})" if _num(base.get("psnr")) else "")
        lines.append(text)
    epochs, seconds = _num(info.get("epochs_run")), _num(info.get("training_seconds"))
    if epochs:
        lines.append(f"{int(epochs)} epochs" + (f", {seconds / 60:.0f} min on {info.get('device', '?')}" if seconds else ""))
    if info.get("fine_tuned_from"):
        lines.append(f"fine-tuned from {Path(str(info['fine_tuned_from'])).name}")
    tips = [f"{k}: {v}" for k, v in info.items() if not isinstance(v, (dict, list))]
    data = info.get("training_data")
    if isinstance(data, dict) and isinstance(data.get("source"), str):
        tips.append(f"training data: {data['source']}")
        if data.get("split"):
            tips.append(f"split: {data['split']}")
    tooltip = "\n".join(tips)
    return "\n".join(lines) or "no training summary in model.json", tooltip
