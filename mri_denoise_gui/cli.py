"""`mri-denoise`: everything the GUI does, headless, for batch work.

User errors (bad files, bad options, bad models) exit 2 with one line on stderr and no
traceback; anything unexpected exits 1 with one line naming a log file that holds the
traceback. The model subcommands live in cli_ml.py so this module never imports TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys

import numpy as np

from mri_denoise_gui import __version__
from mri_denoise_gui.core.metrics import METRIC_NAMES, foreground_mask, slice_metrics, volume_metrics
from mri_denoise_gui.core.noise import NOISE_KINDS, NoiseError, add_noise, sigma_from_variance
from mri_denoise_gui.core.normalize import Normalizer
from mri_denoise_gui.core.outputs import check_output
from mri_denoise_gui.core.rician import NOISE_MODELS
from mri_denoise_gui.core.volume import VolumeError, load_volume, save_volume
from mri_denoise_gui.cli_args import OneLineParser, crash_log, float_in, nonneg_int, one_line
from mri_denoise_gui.cli_ml import add_ml_subcommands
from mri_denoise_gui.ml.errors import ModelError


class UserError(Exception):
    """A mistake in what the user asked for; printed as one line, exit code 2."""


AXIS_CHOICES = {"0": 0, "1": 1, "2": 2}


def cmd_info(args: argparse.Namespace) -> int:
    vol = load_volume(args.file)
    n_volumes = vol.n_volumes
    data = vol.data
    lines = [
        f"file:         {vol.path}",
        f"shape:        {' x '.join(str(s) for s in vol.shape)}"
        + (f" (volume 0 of {n_volumes})" if n_volumes > 1 else ""),
        f"volumes:      {n_volumes}",
        f"voxel sizes:  {' x '.join(f'{z:g}' for z in vol.voxel_sizes)} mm",
        f"dtype:        {vol.dtype}",
        f"orientation:  {''.join(vol.orientation)}",
        f"sform/qform:  codes {int(vol.header['sform_code'])} / {int(vol.header['qform_code'])}",
        f"intensity:    min {data.min():g}, max {data.max():g}, mean {data.mean():g}",
        f"percentiles:  0.5% {np.percentile(data, 0.5):g}, 99.5% {np.percentile(data, 99.5):g}",
    ]
    lines += [f"warning:      {w}" for w in vol.warnings]
    print("\n".join(lines))
    return 0


def cmd_add_noise(args: argparse.Namespace) -> int:
    check_output(args.output, [args.input])  # before the load: refuse early, the same rules as save_volume
    vol = load_volume(args.input, volume_index=args.volume_index)
    norm = Normalizer().fit(vol.data)
    clean01 = norm.forward(vol.data, clip=False)  # keep the bright tail in the export
    noisy01 = add_noise(clean01, args.kind, args.variance, seed=args.seed)
    sidecar = {
        "source": str(vol.path),
        "volume_index": args.volume_index,
        "noise": {
            "kind": args.kind,
            "variance": args.variance,
            "sigma": sigma_from_variance(args.variance),
            "seed": args.seed,
            "defined_on": "normalised [0, 1] intensities",
        },
        "normalizer": norm.to_dict(),
        "metrics_vs_source": volume_metrics(clean01, noisy01),
    }
    save_volume(args.output, norm.inverse(noisy01), like=vol, sidecar=sidecar)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _fmt(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.4f}"


def cmd_metrics(args: argparse.Namespace) -> int:
    if args.test is None or args.no_reference:  # reference-free figures (cli_adapt.py)
        from mri_denoise_gui.cli_adapt import cmd_metrics_noref

        return cmd_metrics_noref(args)
    ref = load_volume(args.reference, volume_index=args.volume_index)
    test = load_volume(args.test, volume_index=args.volume_index)
    if ref.shape != test.shape:
        raise UserError(f"shapes differ: {args.reference} is {ref.shape}, {args.test} is {test.shape}")
    norm = Normalizer().fit(ref.data)
    ref01, test01 = norm.forward(ref.data, clip=False), norm.forward(test.data, clip=False)
    mask = foreground_mask(ref01) if args.mask else None
    result: dict = volume_metrics(ref01, test01, mask)
    if args.axis is not None:
        result["per_slice"] = slice_metrics(ref01, test01, axis=args.axis, mask=mask)
    if args.json:
        print(json.dumps(_json_safe(result)))
        return 0
    where = " (inside the foreground mask)" if args.mask else ""
    print(f"SSIM  {_fmt(result['ssim'])}{where}")
    print(f"PSNR  {_fmt(result['psnr'])} dB")
    print(f"NRMSE {_fmt(result['nrmse'])}")
    if args.axis is not None:
        print(f"\nslice  {'  '.join(f'{m.upper():>8}' for m in METRIC_NAMES)}")
        per = result["per_slice"]
        for i in range(len(per["ssim"])):
            print(f"{i:5d}  " + "  ".join(f"{_fmt(per[m][i]):>8}" for m in METRIC_NAMES))
    return 0


def _json_safe(obj):
    """JSON has no inf: write PSNR of identical images as null-free string 'inf'."""
    if isinstance(obj, float) and math.isinf(obj):
        return "inf" if obj > 0 else "-inf"
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    return obj


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="mri-denoise",
        description="Add realistic noise to MRI volumes, denoise them with a CNN, and measure the result.",
    )
    parser.add_argument("--version", action="version", version=f"mri-denoise-gui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("info", help="shape, voxel sizes, dtype, orientation and intensities of a NIfTI file")
    p.add_argument("file")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("add-noise", help="add reproducible synthetic noise to a volume")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--kind", choices=NOISE_KINDS, default="rician")
    p.add_argument(
        "--variance", type=float_in(0.0, name="variance"), required=True,
        help="noise variance on the normalised [0, 1] image (0.0025 = sigma 0.05 = 5%% of the range)",
    )
    p.add_argument("--seed", type=nonneg_int, default=None)
    p.add_argument("--volume-index", type=nonneg_int, default=0, help="volume of a 4D file (default 0)")
    p.set_defaults(func=cmd_add_noise)

    p = sub.add_parser("metrics", help="SSIM, PSNR and NRMSE of TEST against the reference REF; "
                                       "with one file (or --no-reference): figures that need no reference")
    p.add_argument("reference", metavar="REF", help="the reference (or, without one, the noisy scan)")
    p.add_argument("test", metavar="TEST", nargs="?", help="the image to score (e.g. the denoised scan)")
    p.add_argument("--no-reference", action="store_true", help="REF is the noisy scan, TEST its denoised version")
    p.add_argument("--model", metavar="DIR", help="without a reference: also score this model (J-invariant, SURE)")
    p.add_argument("--noise", choices=NOISE_MODELS, default="rician",
                   help="with --model: the scan's noise for SURE (rician: magnitude MRI, the default; gaussian)")
    p.add_argument("--axis", type=int, choices=(0, 1, 2), default=None, help="also print per-slice scores")
    p.add_argument("--mask", action="store_true", help="score only inside the Otsu foreground of REF")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--volume-index", type=nonneg_int, default=0)
    p.set_defaults(func=cmd_metrics)

    add_ml_subcommands(sub)
    return parser


USER_ERRORS = (UserError, ModelError, VolumeError, NoiseError, ValueError, OSError)


def _warnings_to_stderr(command: str) -> logging.Handler:
    """Show the repairs a load made (NaN voxels, complex data...) as `warning:` lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"mri-denoise {command}: warning: %(message)s"))
    handler.setLevel(logging.WARNING)
    logger = logging.getLogger("mri_denoise_gui")
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    return handler


def _inputs(args: argparse.Namespace) -> str:
    """The input files a command was given, to name in a message that has no file of its own."""
    names = []
    for key in ("file", "input", "reference", "test", "paths", "data"):
        value = getattr(args, key, None)
        names += [str(v) for v in value] if isinstance(value, list) else [str(value)] if value else []
    return ", ".join(names) or "the input"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    prefix = f"mri-denoise {args.command}"
    handler = _warnings_to_stderr(args.command)
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as exc:
        print(f"{prefix}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"{prefix}: error: {_inputs(args)}: not enough memory for this input", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mri-denoise: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not a bad input: one line here, the traceback in a log
        log_file = crash_log(args.command, sys.argv if argv is None else argv)
        where = f"; the traceback is in {log_file}" if log_file else ""
        print(f"{prefix}: unexpected error: {type(exc).__name__}: {one_line(exc)}{where}", file=sys.stderr)
        return 1
    finally:
        logging.getLogger("mri_denoise_gui").removeHandler(handler)


if __name__ == "__main__":
    raise SystemExit(main())
