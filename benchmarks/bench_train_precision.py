"""Training precision: float32 against a mixed policy (bfloat16 by default), same seed, same recipe.

Three parts, all in one process:
1. Step time: the default network (resunet width 16, 2 levels, noise-level channel) compiled twice,
   in float32 and under the mixed policy, trained on the same batch in alternation (best of
   ``--rounds`` rounds of ``--steps`` steps each), so the ratio holds under background load.
2. A short identical training from scratch (synthetic MNI152 contrasts, ``--epochs`` x ``--steps-per-epoch``,
   same seed and data stream) in each precision: validation PSNR / SSIM of the kept epoch and wall time.
3. ``--fine-tune``: the shipped default polished for a short while in each precision (its last
   stage's recipe, shortened), then each result's inference on the demo volume (Rician noise, tissue
   PSNR) in float32, in the bfloat16 copy inference uses (first two convolutions float32) and in an
   all-bfloat16 copy (only the output tail float32): does bfloat16 training make the all-bfloat16
   copy exact (within 0.02 dB)?

    python benchmarks/bench_train_precision.py [--precision bfloat16] [--fine-tune] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402

OPTIONS = {"width": 16, "levels": 2, "unshuffle": 2, "noise_level": True}


def step_times(precision: str, steps: int, rounds: int, patch: int = 64, batch: int = 16) -> dict:
    """Training steps per second of the default network in float32 and in ``precision``, alternated."""
    import keras

    from mri_denoise_gui.ml import architectures, precision as mlprecision
    from mri_denoise_gui.ml.losses import get_loss

    keras.utils.set_random_seed(0)
    base = architectures.build("resunet", **OPTIONS)
    rng = np.random.default_rng(0)
    clean = rng.random((batch, patch, patch, 1)).astype(np.float32)
    noisy = (clean + rng.normal(0, 0.05, clean.shape)).astype(np.float32)
    models = {}
    for p in ("float32", precision):
        model = mlprecision.training_copy(architectures.build("resunet", **OPTIONS), p)
        model.set_weights(base.get_weights())
        model.compile(optimizer=mlprecision.training_optimizer(keras.optimizers.Adam(1e-3), p), loss=get_loss("ssim_l1"))
        model.train_on_batch(noisy, clean)  # trace
        models[p] = model
    best = {p: 0.0 for p in models}
    for _ in range(rounds):
        for p, model in models.items():
            started = time.perf_counter()
            for _ in range(steps):
                model.train_on_batch(noisy, clean)
            best[p] = max(best[p], steps / (time.perf_counter() - started))
    return best


def short_training(precision: str, work: Path, args, init_from: str | None = None, tag: str = "scratch") -> dict:
    from mri_denoise_gui.ml.train import TrainingConfig, train

    common = dict(out=str(work / f"{tag}-{precision}"), synthetic=True, arch="resunet", seed=20241127,
                  epochs=args.epochs, steps_per_epoch=args.steps_per_epoch, batch_size=16, val_patches=128,
                  noise_kind="rician+gaussian", variance_range=(1e-4, 1e-2), precision=precision)
    if init_from:  # the default's last stage (L1, 1/sigma weights, EMA, cosine), at a low rate
        recipe = dict(arch_options=OPTIONS, init_from=init_from, patch_size=96, learning_rate=args.finetune_lr,
                      loss="l1", noise_weighting="inverse_sigma", ema_momentum=args.finetune_ema, lr_schedule="cosine",
                      monitor="val_psnr_metric", stream_seed=29)
    else:
        recipe = dict(arch_options={k: v for k, v in OPTIONS.items() if k != "noise_level"}, patch_size=64,
                      learning_rate=1e-3, loss="ssim_l1", monitor="val_loss")
    started = time.perf_counter()
    result = train(TrainingConfig(**common, **recipe))
    seconds = time.perf_counter() - started
    return {"precision": precision, "folder": str(result.folder), "val_psnr": result.best["psnr"],
            "val_ssim": result.best["ssim"], "best_epoch": result.best["epoch"], "seconds": seconds,
            "noisy_psnr": result.best["noisy_input"]["psnr"]}


def inference_quality(folder: str) -> list[dict]:
    """Tissue PSNR deltas of the two bfloat16 inference copies of ``folder`` against its float32."""
    from bench_inference import precision_quality

    from mri_denoise_gui.ml import precision as mlprecision
    from mri_denoise_gui.ml.inference import Denoiser

    exact = Denoiser.load(folder, precision="float32")
    head = Denoiser.load(folder, precision="bfloat16")
    whole = Denoiser.load(folder, precision="bfloat16")
    whole.use_network(mlprecision.mixed_copy(whole.model, "bfloat16", head_convs=0), "bfloat16", "all bf16")
    rows = []
    for name, fast in (("bf16, head float32", head), ("all bf16", whole)):
        for q in precision_quality(fast, exact):
            rows.append({"copy": name, **q})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--precision", default="bfloat16", choices=("bfloat16", "float16"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10, help="training steps per round of the step-time A/B")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--steps-per-epoch", type=int, default=100)
    parser.add_argument("--fine-tune", action="store_true", help="also polish the default in each precision")
    parser.add_argument("--finetune-lr", type=float, default=1.5e-4, help="the polish's starting rate")
    parser.add_argument("--finetune-ema", type=float, default=0.999, help="its weight average (0: off)")
    parser.add_argument("--finetune-only", choices=("float32", "bfloat16", "float16"),
                        help="polish in this precision only (no float32 twin)")
    parser.add_argument("--skip-speed", action="store_true", help="no step-time A/B")
    parser.add_argument("--skip-scratch", action="store_true", help="no from-scratch training pair")
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "out" / "train_precision")
    args = parser.parse_args(argv)
    from mri_denoise_gui.ml import precision as mlprecision
    from mri_denoise_gui.ml.device import configure_devices
    from mri_denoise_gui.resources import default_model_dir

    device = configure_devices()
    print(f"device {device}, {os.cpu_count()} CPUs, native bfloat16: {mlprecision.cpu_has_native_bf16()}, "
          f"auto inference precision: {mlprecision.auto_precision(device)[0]}", flush=True)
    out: dict = {"device": device, "native_bf16": mlprecision.cpu_has_native_bf16()}
    if not args.skip_speed:
        speed = step_times(args.precision, args.steps, args.rounds)
        out["steps_per_s"] = speed
        print(f"training steps/s (batch 16 of 64x64): float32 {speed['float32']:.2f}, {args.precision} "
              f"{speed[args.precision]:.2f} -> {speed[args.precision] / speed['float32']:.2f}x", flush=True)
    args.work.mkdir(parents=True, exist_ok=True)
    runs = []
    plans = [] if args.skip_scratch else [("scratch", None)]
    if args.fine_tune:
        plans.append(("finetune", str(default_model_dir())))
    for tag, init_from in plans:
        for p in (args.finetune_only,) if tag == "finetune" and args.finetune_only else ("float32", args.precision):
            r = short_training(p, args.work, args, init_from=init_from, tag=tag)
            r["tag"] = tag
            r["finetune_lr"], r["finetune_ema"] = (args.finetune_lr, args.finetune_ema) if init_from else (None, None)
            if tag == "finetune":
                r["inference"] = inference_quality(r["folder"])
            runs.append(r)
            print(json.dumps(r), flush=True)
    if args.fine_tune:
        runs.append({"tag": "shipped default", "inference": inference_quality(str(default_model_dir()))})
    out["runs"] = runs
    for r in runs:
        if "val_psnr" in r:
            print(f"{r['tag']:<9} {r['precision']:<9} val PSNR {r['val_psnr']:.3f} dB, SSIM {r['val_ssim']:.4f} "
                  f"(epoch {r['best_epoch']}), {r['seconds']:.0f} s")
        for q in r.get("inference", []):
            print(f"  {r['tag']:<9} {r.get('precision', ''):<9} {q['copy']:<19} var {q['variance']}: "
                  f"float32 {q['tissue_psnr_float32']:.3f} dB, delta {q['delta_db']:+.3f} dB")
    (args.work / f"bench_train_precision{'_' + tag if plans else ''}.json").write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
