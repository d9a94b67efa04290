"""Train the models shipped in resources/models/ reproducibly: `make train-default` / `make train-seed`.

    python packaging/train_shipped_models.py default            # ~75-80 min on a 2-core CPU (four stages)
    python packaging/train_shipped_models.py seed-autoencoder   # ~10-15 min on 2 idle cores

Training data: only synthetic contrasts derived from nilearn's MNI152 T1/GM/WM maps
(ml/synthetic.py), with one slab of the template held out for validation and one for the
quality benchmark. Noise: Rician or Gaussian per patch, sigma 1% to 10% of the range.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mri_denoise_gui.ml.modelfile import publish_folder  # noqa: E402
from mri_denoise_gui.ml.train import TrainingConfig, epoch_summary, train  # noqa: E402

#: what every fine-tuning stage of the shipped default shares (stage 4's network and polish, the
#: rate falling from 1e-4 along a cosine, 30 % of patches at low noise); each recipe adds its data
FINE_TUNE = dict(arch="resunet", arch_options={"width": 16, "levels": 2, "unshuffle": 2, "noise_level": True},
                 epochs=15, steps_per_epoch=300, batch_size=16, patch_size=96,
                 learning_rate=1e-4, loss="l1", lr_schedule="cosine",
                 monitor="val_psnr_metric", noise_weighting="inverse_sigma", ema_momentum=0.999,
                 low_noise_share=0.3)

#: fine-tuning through the Wiener refinement (layers.PilotWiener, 4 px DCT blocks every 2 px)
WIENER_FINE_TUNE = dict(FINE_TUNE, arch_options={**FINE_TUNE["arch_options"], "wiener": True, "wiener_block": 4,
                                                 "wiener_stride": 2})

RECIPES = {
    # the blind default: small residual U-Net at half resolution, SSIM+L1
    "default": dict(arch="resunet", arch_options={"width": 16, "levels": 2, "unshuffle": 2},
                    epochs=56, steps_per_epoch=300, batch_size=16, patch_size=96,
                    learning_rate=2e-3, loss="ssim_l1", lr_patience=3),
    # second stage of the default: continue from stage 1 at a lower rate on a fresh data stream;
    # kept only if it beats stage 1 on the same validation set
    "default-stage2": dict(arch="resunet", arch_options={"width": 16, "levels": 2, "unshuffle": 2},
                           epochs=20, steps_per_epoch=300, batch_size=16, patch_size=96,
                           learning_rate=5e-4, loss="ssim_l1", lr_patience=2, stream_seed=7),
    # third stage: polish with L1 at a low rate, each patch weighted by 1/sigma so that low noise
    # counts as much as high noise (as mean PSNR in dB does), validating and keeping an average of
    # the weights (its momentum is in model.json's config); kept only if validation PSNR improves
    "default-stage3": dict(arch="resunet", arch_options={"width": 16, "levels": 2, "unshuffle": 2},
                           epochs=30, steps_per_epoch=300, batch_size=16, patch_size=96,
                           learning_rate=2.5e-4, loss="l1", lr_patience=6, stream_seed=11,
                           monitor="val_psnr_metric", noise_weighting="inverse_sigma", ema_momentum=0.999),
    # fourth stage: the same network grown by one input channel, the image's own noise level
    # (layers.NoiseLevelMap, estimated inside the model: still blind), which starts at zero weight
    # so the stage starts from stage 3's exact output; polished like stage 3, the rate falling
    # along a cosine; kept only if validation PSNR improves
    "default-stage4": dict(arch="resunet", arch_options={"width": 16, "levels": 2, "unshuffle": 2, "noise_level": True},
                           epochs=20, steps_per_epoch=300, batch_size=16, patch_size=96,
                           learning_rate=1.5e-4, loss="l1", lr_schedule="cosine", stream_seed=13,
                           monitor="val_psnr_metric", noise_weighting="inverse_sigma", ema_momentum=0.999),
    # fifth stage (issue 14): fine-tune the shipped default on the original domain mixed with coarse,
    # thick-slice, small-matrix slices (ml/synthetic_coarse.py, 40 % of slices) and a larger share
    # of low noise (30 % of patches at sigma 1-3 %), polished like stage 4; validated on the
    # original and the coarse synthetic validation sets together (SYNTH_VAL_SLAB only).
    # `python packaging/train_shipped_models.py default-stage5 --init-from resources/models/default --out DIR`
    "default-stage5": dict(FINE_TUNE, stream_seed=17, synthetic_coarse=0.4),
    # sixth stage (issue 14): the same fine-tuning with a third of the clean slices detail-rich
    # photographs (ml/synthetic_detail.py), so that fine structure stops reading as noise; validated
    # on the original, coarse and detail (held-out photographs) sets together
    "default-stage6": dict(FINE_TUNE, stream_seed=19, synthetic_coarse=0.3, synthetic_detail=0.3),
    # seventh stage (issue 14): the shipped network grown by four residual blocks at its coarsest
    # level (architectures.build_resunet mid_blocks; they start at zero, so the stage starts from
    # the shipped output), then trained on stage 5's data at a higher rate so the new blocks learn
    "default-stage7": dict(FINE_TUNE, arch_options={**FINE_TUNE["arch_options"], "mid_blocks": 4}, epochs=20,
                           learning_rate=3e-4, stream_seed=23, synthetic_coarse=0.4),
    # eighth stage (issue 14): stage 5's fine-tuning with 30 % of the slices interpolated 1.5-4x onto a
    # finer grid (ml/synthetic_oversampled.py: smooth at the pixel scale, as zero-filled or
    # interpolated reconstructions are), validated on the original, coarse and oversampled sets
    "default-stage8": dict(FINE_TUNE, learning_rate=2e-4, stream_seed=29, synthetic_coarse=0.3,
                           synthetic_oversampled=0.3),
    # the same, balanced: stage 8 gained on the oversampled set but gave back 0.10 dB on the coarse
    # one, so more coarse slices, fewer oversampled ones and stage 5's rate
    "default-stage8-balanced": dict(FINE_TUNE, stream_seed=31, synthetic_coarse=0.4, synthetic_oversampled=0.2),
    # and again with still more coarse slices (balanced missed the coarse bar by 0.007 dB)
    "default-stage8-coarser": dict(FINE_TUNE, stream_seed=37, synthetic_coarse=0.45, synthetic_oversampled=0.15),
    # ninth stage (issue 14): the shipped network with the Wiener refinement appended (layers.PilotWiener,
    # 4 px DCT blocks every 2 px; no weights, so the stage starts from the refined shipped output),
    # fine-tuned through it on stage 5's data so that the network learns to be the filter's pilot
    "default-stage9-wiener": dict(WIENER_FINE_TUNE, stream_seed=41, synthetic_coarse=0.4),
    # tenth stage (issue 14): the ninth again, from the published ninth, at three times the rate
    "default-stage10-wiener": dict(WIENER_FINE_TUNE, learning_rate=3e-4, stream_seed=43, synthetic_coarse=0.4),
    # eleventh stage (issue 14): the ninth (published as stage 6) again, with the loss weighted to the
    # tissue (losses.l1_tissue: background pixels at 0.2), the best epoch by that validation loss
    "default-stage11-tissue": dict(WIENER_FINE_TUNE, loss="l1_tissue", monitor="val_loss", stream_seed=47,
                                   synthetic_coarse=0.4),
    # the tutorial's network and its SSIM, trained on the same data and noise for a fair comparison;
    # the SSIM is averaged over the windows that hold tissue, because plain SSIM on mostly-background
    # slices rewards a flat dark output, and mixed with L1 (ssim_masked_l1), because under the output
    # Dropout SSIM alone lets the tissue darken; Adam at 5e-4, not the tutorial's 2e-3, which gave a
    # lower tissue SSIM (benchmarks/README.md, "The seed autoencoder darkens tissue: why")
    "seed-autoencoder": dict(arch="seed-autoencoder", arch_options={"input_size": None},
                             epochs=12, steps_per_epoch=150, batch_size=16, patch_size=96,
                             learning_rate=5e-4, loss="ssim_masked_l1", lr_patience=3),
}


def recipe_config(recipe_name: str, out: Path, epochs=None, steps=None, init_from=None, **overrides) -> TrainingConfig:
    """The TrainingConfig of one recipe: the shared data, noise, validation and seed, plus the recipe;
    ``overrides`` replace any of those settings (a diagnosis run, e.g. without noise)."""
    recipe = dict(RECIPES[recipe_name])
    if epochs:
        recipe["epochs"] = epochs
    if steps:
        recipe["steps_per_epoch"] = steps
    shared = dict(out=str(out), synthetic=True, noise_kind="rician+gaussian", variance_range=(1e-4, 1e-2),
                  val_patches=192, seed=20241127, init_from=str(init_from) if init_from else None)
    return TrainingConfig(**{**shared, **recipe, **overrides})


def run(recipe_name: str, out: Path, epochs=None, steps=None, init_from=None, **overrides) -> dict:
    config = recipe_config(recipe_name, out, epochs, steps, init_from, **overrides)
    started = time.time()

    def progress(event):
        if event["kind"] == "epoch":
            print(f"[{time.time() - started:7.0f}s] {recipe_name} {epoch_summary(event)}", flush=True)

    result = train(config, progress=progress)
    print(f"{recipe_name} done in {time.time() - started:.0f}s: {result.folder} best {result.best}", flush=True)
    if result.folder is None:
        raise SystemExit(f"{recipe_name}: training produced no model")
    return json.loads((Path(result.folder) / "model.json").read_text())


def _stage_record(n: int, recipe_name: str, meta: dict, kept: bool | None = None) -> dict:
    """One stage for model.json's "training_stages", described from its recipe: the validation
    loss is recorded only for stages picked by it (stage 3's L1 loss is not comparable)."""
    recipe = RECIPES[recipe_name]
    loss = recipe["loss"] + (", patches weighted by 1/sigma" if recipe.get("noise_weighting") == "inverse_sigma" else "")
    val = meta["validation"]
    record = {"stage": n, "epochs": meta["epochs_run"], "seconds": meta["training_seconds"], "loss": loss}
    if recipe.get("monitor", "val_loss") == "val_loss":
        record["val_loss"] = val["loss"]
    record.update(val_psnr=val["psnr"], val_ssim=val["ssim"])
    if kept is not None:
        record["kept"] = kept
    return record


#: the recipes that fine-tune the shipped default as one more stage (numbered by the recipe's
#: order of trial; the published stage is numbered after the shipped model's own stages)
FINE_TUNE_STAGES = ("default-stage5", "default-stage6", "default-stage7", "default-stage8", "default-stage8-balanced",
                    "default-stage8-coarser", "default-stage9-wiener",
                    "default-stage10-wiener", "default-stage11-tissue")


def publish_stage(recipe_name: str, base: Path, stage: Path, out: Path, scores: Path | None = None) -> None:
    """``base`` (the shipped default) fine-tuned by ``recipe_name`` into ``stage``, published to ``out``
    with model.json telling all stages and the widened training data (nothing else changes).
    ``scores``: benchmarks/synth_val.py's JSON for both folders, recorded per validation set."""
    from mri_denoise_gui.ml.litert import write_lite_copy

    base_meta = json.loads((base / "model.json").read_text())
    n = len(base_meta["training_stages"]) + 1
    meta = json.loads((stage / "model.json").read_text())
    record = _stage_record(n, recipe_name, meta, kept=True)
    record["recipe"] = recipe_name
    record["fine_tuned_from"] = f"the shipped default (stages 1-{n - 1})"
    record["planned_epochs"] = meta["config"]["epochs"]  # more than "epochs" when stopped early (kept: the best)
    grown = {k: v for k, v in meta["architecture_options"].items() if base_meta["architecture_options"].get(k) != v}
    if grown:  # the stage changed the network (grown by architectures.grow): say how
        record["architecture_grown"] = grown
    record["validation_sets"] = " + ".join(meta.get("training_data", {}).get("validation_sets", {"original": 0})) + \
        " synthetic validation sets together"
    if scores:
        by_folder = {Path(k).resolve(): v for k, v in json.loads(scores.read_text()).items() if k != "noisy input"}
        meta["validation"]["by_set"] = by_folder[stage.resolve()]
        meta["validation"][f"by_set_before_stage{n}"] = by_folder[base.resolve()]
        others = [k for k in by_folder[stage.resolve()] if k != "original"]
        meta["validation"]["by_set_note"] = ("benchmarks/synth_val.py, 192 patches a set: the original synthetic "
                                             "validation set (the one stages 1-4 were selected on)"
                                             + "".join(f", the {k} one" for k in others))
    meta["name"] = out.name
    meta["fine_tuned_from"] = None  # from the shipped default's own stages: see training_stages
    meta["training_stages"] = list(base_meta["training_stages"]) + [record]
    meta["training_seconds"] = round(base_meta["training_seconds"] + meta["training_seconds"], 1)
    meta["epochs_run"] = base_meta["epochs_run"] + meta["epochs_run"]
    meta["config"]["out"] = str(out.relative_to(ROOT)) if out.is_relative_to(ROOT) else str(out)
    meta["config"]["init_from"] = f"resources/models/default (stages 1-{n - 1})"
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.publish-", dir=out.parent))
    try:
        shutil.copyfile(stage / "model.keras", staging / "model.keras")
        for log in sorted(base.glob("training_log_stage*.csv")):
            shutil.copyfile(log, staging / log.name)
        shutil.copyfile(stage / "training_log.csv", staging / f"training_log_stage{n}.csv")
        (staging / "model.json").write_text(json.dumps(meta, indent=2) + "\n")
        write_lite_copy(staging)
        staging.chmod(0o755)
        publish_folder(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("which", choices=["default", "seed-autoencoder", *FINE_TUNE_STAGES])
    parser.add_argument("--out", type=Path, help="model folder (default: resources/models/<which>)")
    parser.add_argument("--epochs", type=int, help="override the recipe's epochs (for a quick check)")
    parser.add_argument("--steps", type=int, help="override the recipe's steps per epoch")
    parser.add_argument("--resume", type=Path, metavar="WORK_DIR",
                        help="default only: reuse the finished stages (stage1/ ... stage4/ model folders) in "
                             "WORK_DIR, run the rest there and keep it")
    parser.add_argument("--init-from", type=Path, metavar="MODEL_DIR",
                        help="default-stage5/6 only: the model to fine-tune (e.g. resources/models/default)")
    parser.add_argument("--scores", type=Path, metavar="JSON",
                        help="with --publish-to: benchmarks/synth_val.py --json output for --init-from and --out")
    parser.add_argument("--publish-to", type=Path, metavar="MODEL_DIR",
                        help="default-stage5/6 only: do not train; publish the trained --out (fine-tuned from "
                             "--init-from) to MODEL_DIR with all stages in model.json")
    args = parser.parse_args(argv)
    if args.which in FINE_TUNE_STAGES:  # a candidate: only --publish-to writes it anywhere else
        if not args.out or not args.init_from:
            parser.error(f"{args.which} needs --init-from MODEL_DIR and --out DIR")
        if args.publish_to:
            publish_stage(args.which, args.init_from.resolve(), args.out.resolve(), args.publish_to.resolve(),
                          args.scores)
            return 0
        if (args.out / "model.json").is_file():
            parser.error(f"{args.out} already holds a model: to resume, pass it as --init-from and a new --out")
        run(args.which, args.out.resolve(), args.epochs, args.steps, init_from=args.init_from.resolve())
        return 0
    out = (args.out or ROOT / "resources" / "models" / args.which).resolve()
    if args.which != "default":
        run(args.which, out, args.epochs, args.steps)
        return 0

    work = args.resume.resolve() if args.resume else Path(tempfile.mkdtemp(prefix=".train-default-", dir=out.parent))

    def stage(n: int, recipe_name: str, init_from=None) -> tuple[Path, dict]:
        folder = work / f"stage{n}"
        if args.resume and (folder / "model.json").is_file():
            print(f"stage {n}: reusing {folder}", flush=True)
            return folder, json.loads((folder / "model.json").read_text())
        return folder, run(recipe_name, folder, args.epochs, args.steps, init_from=init_from)

    try:
        stage1, meta1 = stage(1, "default")
        stage2, meta2 = stage(2, "default-stage2", init_from=stage1)
        better = meta2["validation"]["loss"] < meta1["validation"]["loss"]
        chosen, meta = (stage2, meta2) if better else (stage1, meta1)
        stage3, meta3 = stage(3, "default-stage3", init_from=chosen)
        better3 = meta3["validation"]["psnr"] > meta["validation"]["psnr"]  # L1 vs SSIM+L1 losses: compare PSNR
        if better3:
            chosen, meta = stage3, meta3
        stage4, meta4 = stage(4, "default-stage4", init_from=chosen)
        better4 = meta4["validation"]["psnr"] > meta["validation"]["psnr"]
        if better4:
            chosen, meta = stage4, meta4
        stages = [(1, "default", stage1, meta1, True), (2, "default-stage2", stage2, meta2, better),
                  (3, "default-stage3", stage3, meta3, better3), (4, "default-stage4", stage4, meta4, better4)]
        meta["name"] = out.name
        meta["fine_tuned_from"] = None  # only from its own earlier stages (temporary folders): see training_stages
        meta["training_stages"] = [_stage_record(n, recipe, m, kept=None if n == 1 else kept)
                                   for n, recipe, _, m, kept in stages]
        meta["training_seconds"] = round(sum(m["training_seconds"] for _, _, _, m, _ in stages), 1)
        meta["epochs_run"] = sum(m["epochs_run"] for _, _, _, m, kept in stages if kept)
        staging = work / "publish"
        shutil.copytree(chosen, staging)
        (staging / "model.json").write_text(json.dumps(meta, indent=2) + "\n")
        for n, _, folder, _, _ in stages:
            if (folder / "training_log.csv").is_file():
                shutil.copyfile(folder / "training_log.csv", staging / f"training_log_stage{n}.csv")
        (staging / "training_log.csv").unlink(missing_ok=True)
        staging.chmod(0o755)
        publish_folder(staging, out)
        print(f"kept stages: {', '.join(str(n) for n, _, _, _, kept in stages if kept)} -> {out}", flush=True)
    finally:
        if not args.resume:
            shutil.rmtree(work, ignore_errors=True)
        else:
            shutil.rmtree(work / "publish", ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
