"""The model subcommands of `mri-denoise`: denoise, train, evaluate.

Kept apart from cli.py so that building the parser never imports TensorFlow: every command
imports ml/ (and with it TensorFlow) only when it runs. Errors are ValueError / ModelError /
VolumeError / FileNotFoundError subclasses, which cli.main() prints as one line with exit 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from mri_denoise_gui import __version__
from mri_denoise_gui.cli_adapt import add_adapt_subcommand, add_denoise_adapt_options, denoise_adapted
from mri_denoise_gui.cli_args import float_in, nonneg_int, positive_int


class CommandError(ValueError):
    """A bad combination of arguments; one line, exit 2."""


# ---------------------------------------------------------------- helpers

class ProgressBar:
    """A one-line progress bar on stderr, redrawn at most every 2%."""

    def __init__(self, label: str, stream=None, width: int = 30):
        self.label, self.stream, self.width = label, stream or sys.stderr, width
        self._last = -1

    def __call__(self, done: int, total: int) -> None:
        pct = int(100 * done / max(total, 1))
        if pct // 2 == self._last // 2 and done < total:
            return
        self._last = pct
        filled = int(self.width * done / max(total, 1))
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} slices")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".nii.gz", ".nii"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _model_dir(value: str | None) -> Path:
    if value:
        return Path(value)
    from mri_denoise_gui.resources import default_model_dir

    return default_model_dir()


_variance = float_in(0.0, 1.0, name="variance")


# ---------------------------------------------------------------- denoise

def _denoise_jobs(args) -> list[tuple[Path, Path]]:
    paths = [Path(p) for p in args.paths]
    if args.output_dir:
        out_dir = Path(args.output_dir)
        if not out_dir.is_dir():
            raise CommandError(f"{out_dir}: output folder does not exist")
        jobs = [(p, out_dir / f"{_stem(p)}_denoised.nii.gz") for p in paths]
        names = [o for _, o in jobs]
        if len(set(names)) != len(names):
            raise CommandError("two inputs share a file name; their outputs would collide")
        return jobs
    if len(paths) != 2:
        raise CommandError("give IN OUT, or IN1 IN2 ... --output-dir DIR")
    return [(paths[0], paths[1])]


def cmd_denoise(args: argparse.Namespace) -> int:
    from mri_denoise_gui.core.volume import load_volume, save_volume

    jobs = _denoise_jobs(args)
    for src, _ in jobs:  # fail before the slow model load
        if not src.exists():
            raise FileNotFoundError(f"{src}: no such file")
    if args.adapt:  # fine-tune on each input first (cli_adapt.py)
        return denoise_adapted(args, jobs)
    from mri_denoise_gui.ml.inference import Denoiser

    denoiser = Denoiser.load(_model_dir(args.model))
    print(f"model {denoiser.name} on {denoiser.device}", file=sys.stderr)
    for src, dst in jobs:
        vol = load_volume(src, volume_index=args.volume_index)
        started = time.perf_counter()
        bar = None if args.quiet else ProgressBar(src.name)
        out = denoiser.denoise_volume(vol, axis=args.axis, batch_size=args.batch_size, progress=bar)
        seconds = time.perf_counter() - started
        norm = denoiser.normalizer().fit(vol.data)
        sidecar = {
            "software": f"mri-denoise-gui {__version__}",
            "source": str(vol.path),
            "volume_index": args.volume_index,
            "operation": "denoise",
            "axis": args.axis,
            "normalizer": norm.to_dict(),
            "model": denoiser.provenance(),
            "seconds": round(seconds, 3),
        }
        save_volume(dst, out, like=vol, sidecar=sidecar)
        print(f"wrote {dst} ({seconds:.1f} s)", file=sys.stderr)
    return 0


# ---------------------------------------------------------------- train

def cmd_train(args: argparse.Namespace) -> int:
    from mri_denoise_gui.ml.train import TrainingConfig

    if args.config:
        config = TrainingConfig.from_json(Path(args.config).read_text())
    else:
        config = TrainingConfig()
    overrides = {
        "out": args.out, "data": args.data, "synthetic": args.synthetic or None, "arch": args.arch,
        "epochs": args.epochs, "steps_per_epoch": args.steps_per_epoch, "batch_size": args.batch_size,
        "patch_size": args.patch, "learning_rate": args.lr, "loss": args.loss, "noise_kind": args.noise_kind,
        "variance_range": tuple(args.variance_range) if args.variance_range else None,
        "val_fraction": args.val_fraction, "init_from": args.init_from, "seed": args.seed,
        "all_axes": args.all_axes or None, "central_fraction": args.central_fraction,
        "tensorboard": args.tensorboard or None, "noise_weighting": args.noise_weighting,
        "monitor": args.monitor, "ema_momentum": args.ema_momentum, "volume_index": args.volume_index,
        "lr_schedule": args.lr_schedule,
    }
    if args.normalize or args.percentiles:
        normalizer = dict(config.normalizer or {})
        if args.normalize:
            normalizer["method"] = args.normalize
        if args.percentiles:
            normalizer["low"], normalizer["high"] = args.percentiles
        overrides["normalizer"] = normalizer
    for key, value in overrides.items():
        if value is not None and value != []:
            setattr(config, key, value)
    bad = config.validate()
    if bad:
        raise CommandError("; ".join(f"{k}: {v}" for k, v in bad.items()))
    from mri_denoise_gui.ml.train import epoch_summary, plan, train

    summary = plan(config)
    print(f"training on {summary['train']['volumes']} volume(s), validating on "
          f"{summary['validation']['volumes']} ({summary['split']} split), device {summary['device']}",
          file=sys.stderr)
    started = time.time()

    def progress(event):
        if event["kind"] == "epoch":
            print(f"{epoch_summary(event)}  ({time.time() - started:.0f} s)", file=sys.stderr, flush=True)

    result = train(config, progress=progress)
    if result.folder is None:
        raise CommandError("training finished without a usable model (no validation improvement)")
    print(f"wrote {result.folder}: best val SSIM {result.best['ssim']:.4f}, PSNR {result.best['psnr']:.2f} dB "
          f"(noisy input {result.best['noisy_input']['ssim']:.4f} / {result.best['noisy_input']['psnr']:.2f} dB)",
          file=sys.stderr)
    return 0


# ---------------------------------------------------------------- evaluate

def evaluate(files, models, noise_kind="rician", variances=(0.0025,), baselines=("nlm",), axis=2,
             seed=0, volume_index=0, progress=None) -> dict:
    """Score noisy input, models and baselines on every file and variance (whole image and tissue).

    Returns {"rows": [...mean over files per (method, variance)...], "per_file": [...]}.
    Each file is normalised with the default percentile Normalizer (clipped to [0, 1]); the
    tissue mask is the Otsu foreground of the clean volume.
    """
    from mri_denoise_gui.core.baselines import BASELINES
    from mri_denoise_gui.core.metrics import foreground_mask, volume_metrics
    from mri_denoise_gui.core.noise import add_noise
    from mri_denoise_gui.core.normalize import Normalizer
    from mri_denoise_gui.core.volume import load_volume

    for name in baselines:
        if name not in BASELINES:
            raise CommandError(f"unknown baseline {name!r}; choose from {', '.join(BASELINES)}")
    per_file = []
    for f_index, path in enumerate(files):
        vol = load_volume(path, volume_index=volume_index)
        clean = Normalizer().fit(vol.data).forward(vol.data, clip=True)
        mask = foreground_mask(clean)
        n_slices = clean.shape[axis] if clean.ndim == 3 else 1
        for v_index, variance in enumerate(variances):
            noisy = add_noise(clean, noise_kind, variance, seed=seed + 1000 * f_index + v_index)
            candidates = [("noisy input", lambda: noisy)]
            for denoiser in models:
                candidates.append((denoiser.name, lambda d=denoiser: d.denoise_volume01(noisy, axis=axis, batch_size=8)))
            for name in baselines:
                candidates.append((name, lambda fn=BASELINES[name]: fn(noisy, axis=axis)))
            for method, run in candidates:
                started = time.perf_counter()
                out = run()
                seconds = time.perf_counter() - started
                whole, tissue = volume_metrics(clean, out), volume_metrics(clean, out, mask)
                per_file.append({
                    "file": str(path), "method": method, "variance": variance,
                    "sigma": math.sqrt(variance), "psnr": whole["psnr"], "ssim": whole["ssim"],
                    "tissue_psnr": tissue["psnr"], "tissue_ssim": tissue["ssim"],
                    "seconds_per_slice": 0.0 if method == "noisy input" else seconds / n_slices,
                })
                if progress:
                    progress(per_file[-1])
    rows = []
    keys = []
    for r in per_file:
        k = (r["method"], r["variance"])
        if k not in keys:
            keys.append(k)
    for method, variance in keys:
        group = [r for r in per_file if r["method"] == method and r["variance"] == variance]
        row = {"method": method, "variance": variance, "sigma": math.sqrt(variance), "files": len(group)}
        for m in ("psnr", "ssim", "tissue_psnr", "tissue_ssim", "seconds_per_slice"):
            row[m] = float(np.mean([g[m] for g in group]))
        rows.append(row)
    return {"noise_kind": noise_kind, "axis": axis, "seed": seed, "rows": rows, "per_file": per_file}


def format_table(rows) -> str:
    header = f"{'method':<20} {'sigma':>6} {'PSNR':>7} {'SSIM':>7} {'tissue PSNR':>12} {'tissue SSIM':>12} {'s/slice':>8}"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r['method']:<20} {r['sigma']:>6.3f} {r['psnr']:>7.2f} {r['ssim']:>7.4f} "
                     f"{r['tissue_psnr']:>12.2f} {r['tissue_ssim']:>12.4f} {r['seconds_per_slice']:>8.4f}")
    return "\n".join(lines)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from mri_denoise_gui.ml.data import find_nifti_files

    files = find_nifti_files(args.data)
    baselines = [b.strip() for b in (args.baselines or "").split(",") if b.strip() and b.strip() != "none"]
    from mri_denoise_gui.ml.inference import Denoiser

    models = [Denoiser.load(m) for m in (args.model or [str(_model_dir(None))])]
    result = evaluate(files, models, noise_kind=args.noise_kind, variances=args.variance or [0.0025],
                      baselines=baselines, axis=args.axis, seed=args.seed, volume_index=args.volume_index)
    result["models"] = {m.name: str(m.folder) for m in models}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{len(files)} file(s), {args.noise_kind} noise, tissue = Otsu foreground of the clean volume")
        print(format_table(result["rows"]))
    return 0


# ---------------------------------------------------------------- parser

def add_ml_subcommands(subparsers) -> None:
    """Register denoise / train / evaluate on the main parser's subparsers (no TensorFlow import)."""
    from mri_denoise_gui.core.noise import NOISE_KINDS
    from mri_denoise_gui.core.normalize import METHODS as NORMALIZE_METHODS

    arch_names = ("resunet", "seed-autoencoder", "tiny")  # kept in sync with ml.architectures (tested)
    train_kinds = NOISE_KINDS + ("rician+gaussian",)
    # kept in sync with ml.data.NOISE_WEIGHTINGS and ml.train.MONITORS (tested) without importing ml/
    weightings = ("none", "inverse_sigma")
    monitors = ("val_loss", "val_psnr_metric", "val_ssim_metric")
    schedules = ("plateau", "cosine")  # ml.train.LR_SCHEDULES

    p = subparsers.add_parser("denoise", help="denoise volumes with a trained model",
                              description="mri-denoise denoise IN OUT, or IN1 IN2 ... --output-dir DIR "
                                          "(outputs named <stem>_denoised.nii.gz)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="IN OUT, or several inputs with --output-dir")
    p.add_argument("--output-dir", help="write <stem>_denoised.nii.gz for every input here")
    p.add_argument("--model", help="model folder (default: the shipped default model)")
    p.add_argument("--axis", type=int, choices=(0, 1, 2), default=2, help="file axis to slice along (default 2)")
    p.add_argument("--batch-size", type=positive_int, default=8)
    p.add_argument("--volume-index", type=nonneg_int, default=0, help="volume of a 4D file (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_denoise_adapt_options(p)
    p.set_defaults(func=cmd_denoise)
    add_adapt_subcommand(subparsers)

    p = subparsers.add_parser("train", help="train or fine-tune a denoising model")
    p.add_argument("--data", nargs="+", default=[], metavar="PATH", help="NIfTI files or folders")
    p.add_argument("--synthetic", action="store_true", help="synthetic contrasts from nilearn's MNI152 maps")
    p.add_argument("--out", help="model folder to write")
    p.add_argument("--config", help="a TrainingConfig JSON file (flags override it)")
    p.add_argument("--arch", choices=arch_names)
    p.add_argument("--epochs", type=positive_int)
    p.add_argument("--steps-per-epoch", type=positive_int)
    p.add_argument("--batch-size", type=positive_int)
    p.add_argument("--patch", type=positive_int, help="patch size in pixels")
    p.add_argument("--lr", type=float)
    p.add_argument("--lr-schedule", choices=schedules,
                   help="plateau (default): halve the rate when validation loss stalls; "
                        "cosine: fall to 2%% of --lr along a half cosine over the epochs")
    p.add_argument("--loss", choices=("ssim", "ssim_l1", "l1"))
    p.add_argument("--noise-kind", choices=train_kinds)
    p.add_argument("--variance-range", nargs=2, type=_variance, metavar=("LOW", "HIGH"))
    p.add_argument("--val-fraction", type=float)
    p.add_argument("--central-fraction", type=float)
    p.add_argument("--all-axes", action="store_true", help="slices along all three axes")
    p.add_argument("--volume-index", type=nonneg_int, help="volume of 4D files to train on (3D files as they are)")
    p.add_argument("--normalize", choices=NORMALIZE_METHODS,
                   help="how each volume is mapped to [0, 1] (default percentile 0.5 / 99.5)")
    p.add_argument("--percentiles", nargs=2, type=float, metavar=("LOW", "HIGH"),
                   help="the percentiles for --normalize percentile")
    p.add_argument("--init-from", help="fine-tune this model folder")
    p.add_argument("--seed", type=nonneg_int)
    p.add_argument("--tensorboard", action="store_true")
    p.add_argument("--noise-weighting", choices=weightings,
                   help="inverse_sigma weights each patch's loss by 1/sigma, so low noise counts as much as high")
    p.add_argument("--monitor", choices=monitors, help="what picks the best checkpoint (default val_loss)")
    p.add_argument("--ema-momentum", type=float_in(0.0, 1.0, "--ema-momentum"), metavar="M",
                   help="validate and keep a moving average of the weights (e.g. 0.999; 0 = off)")
    p.set_defaults(func=cmd_train)

    p = subparsers.add_parser("evaluate", help="PSNR/SSIM of models and baselines on noisy copies of volumes")
    p.add_argument("--data", nargs="+", required=True, metavar="PATH", help="clean NIfTI files or folders")
    p.add_argument("--model", nargs="+", metavar="DIR", help="model folders (default: the shipped default)")
    p.add_argument("--noise-kind", choices=NOISE_KINDS, default="rician")
    p.add_argument("--variance", nargs="+", type=_variance, metavar="V", help="noise variances (default 0.0025)")
    p.add_argument("--baselines", default="nlm", help="comma-separated, e.g. nlm,wavelet,bm3d, or none")
    p.add_argument("--axis", type=int, choices=(0, 1, 2), default=2)
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.add_argument("--volume-index", type=nonneg_int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_evaluate)
