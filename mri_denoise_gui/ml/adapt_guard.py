"""The guard of an adaptation: reference-free scores of a model on held-out slices, and the rule
that keeps an adapted model only if it clearly beats the one it started from.

Why apart from ``ml.adapt``: the scoring is what decides, and it is read on its own (the window's
no-reference panel shows its figures); the run that trains lives in ``ml.adapt``.
"""

from __future__ import annotations

import math

import numpy as np

from mri_denoise_gui.core import noref
from mri_denoise_gui.core.baselines import nlm_denoise


def guard_scores(denoiser, scans, config, nlm: bool) -> dict:
    """Reference-free scores of the model (and of NLM) on every scan's held-out slices, pooled:
    {"j_invariant": {...}, "sure_mse": {...}} keyed by "model" / "nlm". ``scans``: ml.adapt's
    loaded scans (slices, sigma, held-out and check indices); ``config``: its AdaptConfig."""
    def model_fn(stack):
        return denoiser.denoise_slices01(stack, batch_size=config.batch_size)

    rician = config.noise == "rician"  # score against the signal, not the noisy mean (core.rician)
    fns = {"model": model_fn}
    if nlm:
        fns["nlm"] = lambda stack: nlm_denoise(stack, axis=0)
    out: dict = {"j_invariant": {}, "sure_mse": {}, "sure_per_slice": {}}
    for name, fn in fns.items():
        j = [noref.j_invariant_loss(s.slices[s.val], fn, axis=0, n_masks=config.guard_masks,
                                    seed=config.seed)["volume"] for s in scans]
        sure = [noref.sure_mse(s.slices[s.val], fn, s.sigma, axis=0, seed=config.seed, rician=rician) for s in scans]
        out["j_invariant"][name] = float(np.nanmean(j))
        out["sure_mse"][name] = float(np.nanmean([x["volume"] for x in sure]))
        out["sure_per_slice"][name] = [v for x in sure for v in x["per_slice"]]
        if name == "model":  # the whole scan (a sample of slices), trained-on ones included
            out["sure_scan"] = float(np.nanmean([noref.sure_mse(s.slices[s.check], fn, s.sigma, axis=0,
                                                                seed=config.seed, rician=rician)["volume"]
                                                 for s in scans]))
    return out


def estimated_psnr(mse: float) -> float | None:
    return float(10.0 * math.log10(1.0 / mse)) if mse > 0 else None


def guard_decision(before: dict, after: dict, margin_db: float = 0.05) -> dict:
    """Keep the adaptation only if its SURE-estimated tissue PSNR on the held-out slices beats the
    starting model's by ``margin_db``, the per-slice gains are clearly positive (their mean above
    twice its standard error), and SURE on a sample of all the scan's slices falls too: a few
    held-out slices flattered an n2v-adapted net that was 0.7 dB worse on the whole EPI volume.

    Why SURE and not the J-invariant loss: the J-invariant loss scores the denoiser with hidden
    pixels filled in, which for a non-blind network is a different (smoother) denoiser than the one
    used; measured here it favoured blind-spot-trained nets and even an identity network. SURE
    scores the network as used, given a good sigma. Both are reported."""
    keys = ("j_invariant", "sure_mse")
    scores = {key: {"start": before[key]["model"], "adapted": after[key]["model"],
                    **({"nlm": before[key]["nlm"]} if "nlm" in before[key] else {})} for key in keys}
    psnr = {k: estimated_psnr(v) for k, v in scores["sure_mse"].items()}
    gain = None
    if psnr["start"] is not None and psnr["adapted"] is not None:
        gain = psnr["adapted"] - psnr["start"]
    diffs = np.asarray(before.get("sure_per_slice", {}).get("model", []), float) - \
        np.asarray(after.get("sure_per_slice", {}).get("model", []), float)
    diffs = diffs[np.isfinite(diffs)] if diffs.size else diffs
    clear = diffs.size < 2 or float(diffs.mean()) > 2.0 * float(diffs.std(ddof=1)) / math.sqrt(diffs.size)
    scan = {"start": before.get("sure_scan"), "adapted": after.get("sure_scan")}
    scan_ok = None in scan.values() or scan["adapted"] < scan["start"]
    kept = gain is not None and gain >= margin_db and clear and scan_ok
    chosen = "adapted" if kept else "start"
    candidates = [chosen] + (["nlm"] if "nlm" in scores["sure_mse"] else [])
    best = min(candidates, key=scores["sure_mse"].get)
    names = {"start": "starting model", "adapted": "adapted", "nlm": "non-local means"}
    return {"kept": kept, "winner": names[best], "scores": scores, "estimated_psnr": psnr,
            "estimated_gain_db": gain, "held_out_slices_scored": int(diffs.size),
            "scan_sure_psnr": {k: estimated_psnr(v) if v else None for k, v in scan.items()},
            "rule": f"kept only if the SURE-estimated tissue PSNR on the held-out slices rises by >= {margin_db} dB "
                    "and the per-slice gains are positive beyond twice their standard error "
                    "and SURE on a sample of the whole scan's slices falls too"}
