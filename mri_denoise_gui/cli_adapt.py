"""`mri-denoise adapt`, `denoise --adapt` and reference-free `metrics NOISY [DENOISED]`.

Adapting fine-tunes a model on the noisy scan itself (ml.adapt); the reference-free figures come
from core.noref. Like cli_ml.py, nothing here imports TensorFlow until a command runs.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from mri_denoise_gui.cli_args import float_in, nonneg_int, positive_int
from mri_denoise_gui.core.rician import NOISE_MODELS
from mri_denoise_gui.ml.training_choices import ADAPT_METHODS as METHODS  # TF-free, like the parser


class AdaptError(ValueError):
    """A bad combination of arguments; one line, exit 2."""


def _config(args, files, out):
    from mri_denoise_gui.ml.adapt import AdaptConfig

    config = AdaptConfig(files=[str(f) for f in files], out=str(out) if out else None,
                         init_from=args.init_from if hasattr(args, "init_from") else args.model,
                         method=args.method, minutes=args.minutes, axis=args.axis,
                         volume_index=args.volume_index, seed=args.seed, noise=args.noise)
    if args.sigma is not None:
        config.sigma = args.sigma
    if args.steps is not None:
        config.max_steps = args.steps
    if args.lr is not None:
        config.learning_rate = args.lr
    if args.warmup is not None:
        config.warmup_steps = args.warmup
    bad = config.validate()
    if bad:
        raise AdaptError("; ".join(f"{k}: {v}" for k, v in bad.items()))
    return config


def _progress(label: str, quiet: bool):
    started = time.time()

    def hook(event):
        if quiet or event["kind"] != "epoch":
            return
        logs = event.get("logs", {})
        print(f"{label}: epoch {event['epoch']}/{event['epochs']}  loss {logs.get('loss', math.nan):.5f}  "
              f"held-out loss {logs.get('val_loss', math.nan):.5f}  ({time.time() - started:.0f} s)",
              file=sys.stderr, flush=True)

    return hook


def describe(result) -> str:
    """One line: which model won the guard and by how much."""
    if result.cancelled:
        return "adaptation cancelled; the starting model is unchanged"
    gain = result.gain_db
    est = "n/a" if gain is None else f"{gain:+.2f} dB"
    verdict = "kept the adapted model" if result.kept else "kept the starting model (adapting did not help)"
    j = result.losses["j_invariant"]
    sigmas = ", ".join(f"{s:.3f}" for s in result.sigmas)
    line = (f"{verdict}: estimated tissue PSNR change {est}; J-invariant loss {j['start']:.3g} -> {j['adapted']:.3g}"
            f"; sigma {sigmas}; {result.steps_run} steps in {result.seconds:.0f} s")
    if result.winner == "non-local means":
        line += "; note: non-local means scored better still"
    return line


def _check_inputs(paths) -> list[Path]:
    files = [Path(p) for p in paths]
    for f in files:
        if not f.is_file():
            raise FileNotFoundError(f"{f}: no such file")
    return files


def cmd_adapt(args: argparse.Namespace) -> int:
    files = _check_inputs(args.noisy)
    out = Path(args.out)
    if any(out.resolve() == f.resolve() for f in files):
        raise AdaptError(f"{out}: refusing to overwrite an input")
    if out.exists() and not (out / "model.json").is_file():
        raise AdaptError(f"{out} exists and is not a model folder; choose another --out")
    config = _config(args, files, out)
    from mri_denoise_gui.ml.adapt import adapt

    result = adapt(config, progress=_progress("adapt", args.quiet))
    print(describe(result), file=sys.stderr)
    if result.folder is not None:
        print(f"wrote {result.folder}", file=sys.stderr)
    else:
        print(f"{out} not written", file=sys.stderr)
    return 0


def denoise_adapted(args: argparse.Namespace, jobs: list[tuple[Path, Path]]) -> int:
    """`denoise --adapt`: adapt a fresh copy of the model to each input, then denoise that input."""
    from mri_denoise_gui.batch import denoise_sidecar
    from mri_denoise_gui.core.outputs import nifti_stem
    from mri_denoise_gui.core.volume import load_volume, save_volume
    from mri_denoise_gui.ml.adapt import adapt_loaded, adapted_metadata
    from mri_denoise_gui.ml.inference import Denoiser
    from mri_denoise_gui.ml.modelfile import save_model_folder
    from mri_denoise_gui.ml.strength import require_noise_input
    from mri_denoise_gui.resources import default_model_dir

    keep = Path(args.keep_adapted) if args.keep_adapted else None
    if keep is not None and not keep.is_dir():
        raise AdaptError(f"{keep}: folder for --keep-adapted does not exist")
    denoiser = Denoiser.load(args.model or default_model_dir(), precision=getattr(args, "precision", "auto"))
    strength = getattr(args, "strength", 1.0)
    if strength != 1.0:  # refused before any adaptation runs
        require_noise_input(denoiser.model, denoiser.name)
    initial = denoiser.model.get_weights()
    print(f"model {denoiser.name} on {denoiser.device}; adapting to each input ({args.method})", file=sys.stderr)
    for src, dst in jobs:
        denoiser.set_strength(1.0)  # adapted and guarded as trained; the strength is for the output
        denoiser.set_weights(initial)
        config = _config(args, [src], None)
        result = adapt_loaded(denoiser, config, progress=_progress(src.name, args.quiet))
        print(f"{src.name}: {describe(result)}", file=sys.stderr)
        vol = load_volume(src, volume_index=args.volume_index)
        started = time.perf_counter()
        denoiser.set_strength(strength)
        out = denoiser.denoise_volume(vol, axis=args.axis, batch_size=args.batch_size)
        seconds = time.perf_counter() - started + result.seconds
        save_volume(dst, out, like=vol, sidecar=denoise_sidecar(vol, denoiser, args.axis, args.volume_index, seconds,
                                                                adaptation=result.summary))
        print(f"wrote {dst}", file=sys.stderr)
        if keep is not None and result.kept:
            stem = nifti_stem(dst).removesuffix("_denoised")
            folder = save_model_folder(denoiser.model, keep / f"{stem}_adapted",
                                       adapted_metadata(denoiser, result.summary, f"{stem}_adapted"))
            print(f"wrote {folder}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------- metrics without a reference

def _fmt(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{value:.4g}"


def cmd_metrics_noref(args: argparse.Namespace) -> int:
    """`metrics NOISY [DENOISED]`: the figures of core.noref, per volume (and per slice with --axis)."""
    from mri_denoise_gui.core import noref
    from mri_denoise_gui.core.normalize import Normalizer
    from mri_denoise_gui.core.volume import load_volume

    noisy_vol = load_volume(args.reference, volume_index=args.volume_index)
    norm = Normalizer().fit(noisy_vol.data)
    noisy01 = norm.forward(noisy_vol.data, clip=False)
    den01 = None
    if args.test is not None:
        den_vol = load_volume(args.test, volume_index=args.volume_index)
        if den_vol.shape != noisy_vol.shape:
            raise AdaptError(f"shapes differ: {args.reference} is {noisy_vol.shape}, {args.test} is {den_vol.shape}")
        den01 = norm.forward(den_vol.data, clip=False)
    denoise = None
    if args.model:
        from mri_denoise_gui.ml.inference import Denoiser

        model = Denoiser.load(args.model)
        denoise = lambda stack: model.denoise_slices01(stack)  # noqa: E731 - a stack -> stack function
    axis = 2 if args.axis is None or noisy01.ndim == 2 else args.axis
    report = noref.noref_report(noisy01, den01, denoise=denoise, axis=axis)
    if denoise is not None:
        report["sure_mse"] = noref.sure_mse(noisy01, denoise, report["sigma"]["volume"], axis=axis,
                                            rician=args.noise == "rician")
    if args.json:
        print(json.dumps({"descriptions": noref.DESCRIPTIONS, **report}, default=float))
        return 0
    print("no reference: figures estimated from the noisy scan itself (inside its tissue)")
    for key, entry in report.items():
        if isinstance(entry, dict):
            extra = f"  (estimated tissue PSNR {_fmt(entry.get('psnr'))} dB)" if key == "sure_mse" else ""
            print(f"{key:<20} {_fmt(entry['volume'])}{extra}")
    for key in (k for k in report if k in noref.DESCRIPTIONS):
        print(f"  {key}: {noref.DESCRIPTIONS[key]}")
    if args.axis is not None:
        keys = [k for k, v in report.items() if isinstance(v, dict) and "per_slice" in v]
        print("\nslice  " + "  ".join(f"{k[:12]:>12}" for k in keys))
        for i in range(len(report["sigma"]["per_slice"])):
            print(f"{i:5d}  " + "  ".join(f"{_fmt(report[k]['per_slice'][i]):>12}" for k in keys))
    return 0


# ---------------------------------------------------------------- parser

def _adapt_options(p, prefix: str = "") -> None:
    p.add_argument(f"--{prefix}method", dest="method", choices=METHODS, default="r2r",
                   help="r2r: recorrupted pairs (default, keeps the net non-blind); n2v: blind-spot masking")
    p.add_argument(f"--{prefix}minutes", dest="minutes", type=float_in(0.01, 24 * 60, "--minutes"), default=0.5,
                   metavar="M", help="training time budget per volume (default 0.5; the guard's scoring comes on top)")
    p.add_argument(f"--{prefix}sigma", dest="sigma", type=float_in(0.0001, 0.99, "--sigma"), default=None,
                   metavar="S", help="noise sigma on the normalised scale (default: estimated in the tissue)")
    p.add_argument(f"--{prefix}steps", dest="steps", type=positive_int, default=None,
                   help="at most this many training steps (default 1200)")
    p.add_argument(f"--{prefix}lr", dest="lr", type=float_in(1e-7, 0.99, "--lr"), default=None,
                   help="learning rate (default 3e-4)")
    p.add_argument(f"--{prefix}warmup", dest="warmup", type=nonneg_int, default=None, metavar="N",
                   help="steps over which the rate rises from 0 (at most a quarter of the steps; default 0: none)")
    p.add_argument(f"--{prefix}noise", dest="noise", choices=NOISE_MODELS, default="rician",
                   help="the scan's noise: rician (magnitude MRI, default: the noise floor is taken out of the "
                        "training targets and the guard's SURE) or gaussian")
    if not prefix:
        p.add_argument("--seed", type=nonneg_int, default=0)


def add_adapt_subcommand(subparsers) -> None:
    """Register `adapt` (no TensorFlow import)."""
    p = subparsers.add_parser("adapt", help="fine-tune a model on noisy scans themselves (no clean data)",
                              description="Self-supervised fine-tuning on NOISY volumes; the result is written "
                                          "only if it beats the starting model on held-out slices.")
    p.add_argument("noisy", nargs="+", metavar="NOISY", help="noisy NIfTI volumes to adapt to")
    p.add_argument("--out", required=True, metavar="MODEL", help="model folder to write")
    p.add_argument("--init-from", metavar="DIR", help="starting model folder (default: the shipped default)")
    p.add_argument("--axis", type=int, choices=(0, 1, 2), default=2)
    p.add_argument("--volume-index", type=nonneg_int, default=0, help="volume of a 4D file (default 0)")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    _adapt_options(p)
    p.set_defaults(func=cmd_adapt)


def add_denoise_adapt_options(p) -> None:
    """`denoise --adapt [--keep-adapted DIR] [--adapt-method ...]`."""
    p.add_argument("--adapt", action="store_true",
                   help="fine-tune the model on each input first (self-supervised, guarded), then denoise it")
    p.add_argument("--keep-adapted", metavar="DIR", help="with --adapt: also save each kept adapted model here")
    _adapt_options(p, prefix="adapt-")
    p.set_defaults(seed=0)
