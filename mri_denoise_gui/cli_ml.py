"""The model subcommands of `mri-denoise`: denoise, train, evaluate.

Kept apart from cli.py so that building the parser never imports TensorFlow: every command
imports ml/ (and with it TensorFlow) only when it runs. Errors are ValueError / ModelError /
VolumeError / FileNotFoundError subclasses, which cli.main() prints as one line with exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from mri_denoise_gui.cli_adapt import add_adapt_subcommand, add_denoise_adapt_options, denoise_adapted
from mri_denoise_gui.cli_args import float_in, nonneg_int, positive_int, strength_value
from mri_denoise_gui.ml.evaluate import check_baselines, evaluate, finite, format_table  # noqa: F401 - evaluate re-exported


class CommandError(ValueError):
    """A bad combination of arguments; one line, exit 2."""


# ---------------------------------------------------------------- helpers

def _model_dir(value: str | None) -> Path:
    if value:
        return Path(value)
    from mri_denoise_gui.resources import default_model_dir

    return default_model_dir()


_variance = float_in(0.0, 1.0, name="variance")


# ---------------------------------------------------------------- denoise

def _denoise_jobs(args, model_dir: Path) -> list:
    from mri_denoise_gui.batch import DenoiseJob, expand_inputs, output_for

    def job(src, dst):
        return DenoiseJob(str(src), str(dst), str(model_dir), axis=args.axis, batch_size=args.batch_size,
                          volume_index=args.volume_index, precision=args.precision, strength=args.strength)

    if not args.output_dir:
        if args.workers or args.scheduler:
            raise CommandError("--workers and --scheduler need --output-dir DIR")
        if len(args.paths) != 2:
            raise CommandError("give IN OUT, or IN1 IN2 ... --output-dir DIR")
        return [job(*args.paths)]
    out_dir = Path(args.output_dir)
    if not out_dir.is_dir():
        raise CommandError(f"{out_dir}: output folder does not exist")
    jobs = [job(p, output_for(p, out_dir)) for p in expand_inputs(args.paths)]
    names = [Path(j.dst).resolve() for j in jobs]
    if len(set(names)) != len(names):
        raise CommandError("two inputs share a file name; their outputs would collide")
    clash = set(names) & {Path(j.src).resolve() for j in jobs}
    if clash:
        raise CommandError(f"{sorted(clash)[0]} is an input and would be overwritten by another input's output")
    return jobs


def _at_strength(denoiser) -> str:
    return "" if denoiser.strength == 1.0 else f" at strength {denoiser.strength:g}"


def _denoise_one(job, args) -> int:
    """IN OUT: one file, a bar over its slices, any error is the command's (exit 2)."""
    from mri_denoise_gui.batch import denoise_file, get_denoiser, is_complete
    from mri_denoise_gui.progress import CommandProgress

    if not Path(job.src).exists():  # fail before the slow model load
        raise FileNotFoundError(f"{job.src}: no such file")
    if args.skip_existing and is_complete(Path(job.src), Path(job.dst)):
        print(f"skipped {job.dst}: already complete", file=sys.stderr)
        return 0
    denoiser = get_denoiser(job.model_dir, job.precision, job.strength)
    print(f"model {denoiser.name} on {denoiser.device} in {denoiser.precision}{_at_strength(denoiser)}", file=sys.stderr)
    with CommandProgress(Path(job.src).name, 0, "slices", enabled=not args.quiet) as bar:
        seconds = denoise_file(job, denoiser, progress=bar)
    print(f"wrote {job.dst} ({seconds:.1f} s)", file=sys.stderr)
    return 0


def cmd_denoise(args: argparse.Namespace) -> int:
    """Denoise IN OUT, or many inputs into --output-dir: in this process, or on Dask with
    --workers N / --scheduler ADDRESS. A bad file is reported and the rest go on; exit 1 if any failed."""
    from mri_denoise_gui.batch import run_job, summary_line
    from mri_denoise_gui.ml.modelfile import check_model_folder

    model_dir = _model_dir(args.model)
    jobs = _denoise_jobs(args, model_dir)
    check_model_folder(model_dir)  # refused here, before TensorFlow or any Dask worker sees it
    if args.adapt:  # fine-tune on each input first (cli_adapt.py)
        return denoise_adapted(args, [(Path(j.src), Path(j.dst)) for j in jobs])
    if not args.output_dir:
        return _denoise_one(jobs[0], args)
    from mri_denoise_gui.progress import CommandProgress

    results = []
    with CommandProgress("denoising", len(jobs), "files", enabled=not args.quiet) as bar:
        def report(result):
            results.append(result)
            bar.advance()
            if result.status == "failed":
                bar.line(f"failed {result.src}: {result.message}")
            elif result.status == "done":
                bar.line(f"wrote {result.dst} ({result.seconds:.1f} s)")

        if args.workers or args.scheduler:
            from mri_denoise_gui.batch_dask import dask_client, run_on_dask, start_workers

            with dask_client(args.workers, args.scheduler) as client:
                n = start_workers(client, str(model_dir), precision=args.precision, strength=args.strength)
                bar.line(f"model {model_dir.name} on {n} Dask worker(s), {len(jobs)} file(s)")
                run_on_dask(client, jobs, skip_existing=args.skip_existing, on_result=report)
        else:
            from mri_denoise_gui.batch import get_denoiser

            # a bad model (or a strength it cannot take) is the command's error (exit 2)
            denoiser = get_denoiser(model_dir, args.precision, args.strength)
            bar.line(f"model {denoiser.name} on {denoiser.device} in {denoiser.precision}{_at_strength(denoiser)}, "
                     f"{len(jobs)} file(s)")
            for job in jobs:
                report(run_job(job, skip_existing=args.skip_existing))
    print(f"summary: {summary_line(results)}", file=sys.stderr)
    failed = [r for r in results if r.status == "failed"]
    for r in failed:
        print(f"  failed: {r.src}: {r.message}", file=sys.stderr)
    return 1 if failed else 0


# ---------------------------------------------------------------- train

def _config_file(path: str):
    """The TrainingConfig in a JSON file; CommandError naming the file if it is not one."""
    from mri_denoise_gui.ml.training_config import TrainingConfig

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"--config {path}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        return TrainingConfig.from_json(text)
    except ValueError as exc:
        raise CommandError(f"--config {path}: {exc}") from None


def cmd_train(args: argparse.Namespace) -> int:
    if args.out:  # a folder training must not replace is refused before the slow TensorFlow import
        from mri_denoise_gui.ml.output_folder import output_problem

        problem = output_problem(args.out, [] if args.synthetic else args.data or [], args.init_from)
        if problem:
            raise CommandError(f"--out {args.out} {problem}")
    from mri_denoise_gui.ml.training_config import TrainingConfig

    config = _config_file(args.config) if args.config else TrainingConfig()
    overrides = {name: getattr(args, name) for name in _flag_fields()}
    if overrides.get("variance_range"):
        overrides["variance_range"] = tuple(overrides["variance_range"])
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
    from mri_denoise_gui.progress import CommandProgress

    def progress(event):
        if event["kind"] == "train_begin":
            bar.line(f"{event.get('replicas', 1)} replica(s) in sync ({config.distribution})")
        elif event["kind"] == "batch":
            bar.update((event["epoch"] - 1) * event["steps"] + event["batch"], event["epochs"] * event["steps"])
        elif event["kind"] == "epoch":
            bar.line(f"{epoch_summary(event)}  ({time.time() - started:.0f} s)")

    try:
        with CommandProgress("training", config.epochs * config.steps_per_epoch, "steps") as bar:
            result = train(config, progress=progress)
    except OSError as exc:  # a read-only or full disk under --out, mid-run: nothing was published
        where = f"{exc.filename}: " if exc.filename and Path(exc.filename) != Path(config.out) else ""
        raise CommandError(f"cannot write the model to {config.out}: {where}{exc.strerror or exc}") from None
    if not result.chief:
        print(f"worker finished {result.epochs_run} epoch(s) on {result.replicas} replica(s); "
              "the chief writes the model", file=sys.stderr)
        return 0
    if result.folder is None:
        raise CommandError("training finished without a usable model (no validation improvement)")
    print(f"wrote {result.folder}: best val SSIM {result.best['ssim']:.4f}, PSNR {result.best['psnr']:.2f} dB "
          f"(noisy input {result.best['noisy_input']['ssim']:.4f} / {result.best['noisy_input']['psnr']:.2f} dB)",
          file=sys.stderr)
    return 0


# ---------------------------------------------------------------- evaluate

def cmd_evaluate(args: argparse.Namespace) -> int:
    from mri_denoise_gui.ml.data import find_nifti_files

    files = find_nifti_files(args.data)
    baselines = [b.strip() for b in (args.baselines or "").split(",") if b.strip() and b.strip() != "none"]
    check_baselines(baselines)
    from mri_denoise_gui.ml.modelfile import check_model_folder

    folders = args.model or [str(_model_dir(None))]
    for folder in folders:  # every folder checked before the slow TensorFlow import
        check_model_folder(folder)
    from mri_denoise_gui.ml.inference import Denoiser

    models = [Denoiser.load(m, precision=args.precision, strength=args.strength) for m in folders]
    variances = args.variance or [0.0025]
    from mri_denoise_gui.progress import CommandProgress

    with CommandProgress("evaluating", len(files) * len(variances) * (1 + len(models) + len(baselines)),
                         "scores") as bar:
        result = evaluate(files, models, noise_kind=args.noise_kind, variances=variances, baselines=baselines,
                          axis=args.axis, seed=args.seed, volume_index=args.volume_index,
                          progress=lambda row: bar.advance())
    result["models"] = {m.name: str(m.folder) for m in models}
    result["precision"] = {m.name: m.precision for m in models}
    if args.json:
        print(json.dumps(finite(result), indent=2, allow_nan=False))
    else:
        print(f"{len(files)} file(s), {args.noise_kind} noise, tissue = Otsu foreground of the clean volume")
        print(format_table(result["rows"]))
    return 0


# ---------------------------------------------------------------- parser

#: how each ``cli`` kind of a TrainingConfig field is parsed (see ml/training_config.setting)
_FLAG_TYPES = {"text": str, "choice": str, "paths": str, "count": positive_int, "index": nonneg_int,
               "float": float, "unit": lambda flag: float_in(0.0, 1.0, flag), "variance": _variance}


def _flag_fields() -> dict:
    """TrainingConfig fields that have a ``train`` flag, with their metadata (TF-free)."""
    import dataclasses

    from mri_denoise_gui.ml.training_config import TrainingConfig

    return {f.name: f.metadata for f in dataclasses.fields(TrainingConfig) if f.metadata.get("cli")}


def add_config_flags(parser) -> None:
    """One flag per TrainingConfig field that declares one; absent flags are None (the config's value stays)."""
    for name, meta in _flag_fields().items():
        flag = meta["flag"] or "--" + name.replace("_", "-")
        helptext = (meta["help"] or "").replace("%", "%%") or None
        if meta["cli"] == "switch":
            parser.add_argument(flag, dest=name, action="store_true", default=None, help=helptext)
            continue
        kind = _FLAG_TYPES[meta["cli"]]
        metavar = meta["metavar"] or (None if meta["choices"] else flag.lstrip("-").replace("-", "_").upper())
        parser.add_argument(flag, dest=name, type=kind(flag) if meta["cli"] == "unit" else kind, choices=meta["choices"],
                            nargs=meta["nargs"], metavar=metavar, help=helptext)


STRENGTH_HELP = ("denoising strength, {0:g}-{1:g} (default 1, as trained): scales the noise level a model with "
                 "a noise-level input (the default) is told; below 1 keeps more fine detail and leaves more noise")
PRECISION_HELP = ("inference precision (default auto: bfloat16 on CPUs with native bfloat16, float16 on GPUs "
                  "with tensor cores, else float32); weights stay float32")

def add_strength_option(parser) -> None:
    from mri_denoise_gui.ml.training_choices import STRENGTH_RANGE  # no TensorFlow import

    parser.add_argument("--strength", type=strength_value, default=1.0, metavar="S",
                        help=STRENGTH_HELP.format(*STRENGTH_RANGE))


def add_ml_subcommands(subparsers) -> None:
    """Register denoise / train / evaluate on the main parser's subparsers (no TensorFlow import)."""
    from mri_denoise_gui.core.noise import NOISE_KINDS
    from mri_denoise_gui.core.normalize import METHODS as NORMALIZE_METHODS
    from mri_denoise_gui.ml.precision import PRECISIONS  # no TensorFlow import

    p = subparsers.add_parser("denoise", help="denoise volumes with a trained model",
                              description="mri-denoise denoise IN OUT, or IN... --output-dir DIR "
                                          "(outputs named <stem>_denoised.nii.gz)")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="IN OUT, or with --output-dir any number of files, folders, globs and @list.txt files")
    p.add_argument("--output-dir", help="write <stem>_denoised.nii.gz for every input here")
    p.add_argument("--skip-existing", action="store_true",
                   help="skip inputs whose output and sidecar already say complete (resume a run)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=positive_int, metavar="N",
                       help="run on a local Dask cluster of N one-thread worker processes (needs .[cluster])")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on an existing Dask cluster: tcp://host:port or a scheduler file")
    p.add_argument("--model", help="model folder (default: the shipped default model)")
    p.add_argument("--axis", type=int, choices=(0, 1, 2), default=2, help="file axis to slice along (default 2)")
    p.add_argument("--batch-size", type=positive_int, default=8)
    p.add_argument("--volume-index", type=nonneg_int, default=0, help="volume of a 4D file (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar (there is none off a terminal)")
    p.add_argument("--precision", choices=PRECISIONS, default="auto", help=PRECISION_HELP)
    add_strength_option(p)
    add_denoise_adapt_options(p)
    p.set_defaults(func=cmd_denoise)
    add_adapt_subcommand(subparsers)

    p = subparsers.add_parser("train", help="train or fine-tune a denoising model")
    p.add_argument("--config", help="a TrainingConfig JSON file (flags override it)")
    add_config_flags(p)
    p.add_argument("--normalize", choices=NORMALIZE_METHODS,
                   help="how each volume is mapped to [0, 1] (default percentile 0.5 / 99.5)")
    p.add_argument("--percentiles", nargs=2, type=float, metavar=("LOW", "HIGH"),
                   help="the percentiles for --normalize percentile")
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
    p.add_argument("--precision", choices=PRECISIONS, default="auto", help=PRECISION_HELP)
    add_strength_option(p)
    p.set_defaults(func=cmd_evaluate)
