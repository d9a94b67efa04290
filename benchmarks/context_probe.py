"""2.5D probe (issue 14 item 2, "context across slices"): is a neighbour slice on each side worth it?

The shipped default sees one slice. A volume holds the same anatomy in the slices beside it with
independent noise, which non-local and BM4D-like filters exploit and a 2D network cannot. This
probe measures that lever before any app plumbing is built for it:

``train``: the shipped default grown (``architectures.grow``) into ``resunet(context=1)``: its input
is the slice to denoise plus its two neighbours; the neighbours' weights start at zero, so at step
0 it computes exactly what the default does. Then fine-tuned with the stage-5 recipe (L1 weighted
by 1/sigma, Adam 1e-4 cosine, EMA 0.999, 40 % coarse / thick slices, 30 % of patches at 1-3 %)
on synthetic stacks from the training slabs only: three slices drawn with the same random draws
(contrast, texture, background, bias, resolution) 1-4 template voxels apart (the coarse domain:
one slab thickness apart), each with its own noise; a quarter of the stacks are one noisy slice
repeated, which is what a single-slice scan gives the network at inference. Checkpoints every
epoch (``--resume`` continues). ``--context 0`` is the control: the same stream of stacks (the
same draws), the network shown only the slice to denoise, so what the neighbours add is separated
from what more fine-tuning on this stream does. ``--scratch`` trains a new network of the
default's shape instead (grown at zero weight, the neighbours stayed unused: the ninth session),
so ``--scratch --context 1`` against ``--scratch --context 0`` asks whether a network that sees
neighbours from its first step learns more than one that never does, at the same budget.

``eval``: the grown network and the default, both float32, on whole volumes through
``ml.evaluate`` (tissue PSNR in the clean volume's Otsu mask, Rician sigma 3 / 5 / 7 %): the
synthetic held-out volumes of ``bench_quality.py`` (test slab, never trained on) and, reporting
only, the reserved real scans of ``bench_real.py`` (never used to choose anything).

    python benchmarks/context_probe.py train --out DIR [--context 1] [--epochs 15] [--steps 300] [--resume] [--scratch]
    python benchmarks/context_probe.py eval DIR [--real] [--synthetic]
    python benchmarks/context_probe.py compare DIR_A DIR_B   # A - B from their eval.json (same noise)
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from mri_denoise_gui.ml import data as mldata  # noqa: E402
from mri_denoise_gui.ml.synthetic import synth_slice  # noqa: E402
from mri_denoise_gui.ml.synthetic_coarse import coarse_resample, thick_maps  # noqa: E402

CONTEXT = 1  # neighbours drawn on each side (the stream is the same whatever --context uses)
VARIANCE_RANGE = (1e-4, 1e-2)
PATCH = 96
COARSE_SHARE, LOW_SHARE, REPEAT_SHARE = 0.4, 0.3, 0.25
SIGMAS = (0.03, 0.05, 0.07)


class ShiftedMaps:
    """``maps`` seen ``shift`` slices further along ``axis`` (same extents), for synth_slice."""

    def __init__(self, maps, axis: int, shift: int):
        self.maps, self.axis, self.shift = maps, axis, shift
        self.shape = maps.shape

    def brain_extent(self, axis: int):
        return self.maps.brain_extent(axis)

    def slice2d(self, axis: int, index: int):
        if axis == self.axis:
            index = int(np.clip(index + self.shift, 0, self.shape[axis] - 1))
        return self.maps.slice2d(axis, index)


def _replay(state) -> np.random.Generator:
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    return rng


def _match(centre: np.ndarray, other: np.ndarray) -> np.ndarray:
    """``other`` scaled to ``centre``'s brightness: synth_slice normalises each slice by its own
    percentiles, a real volume is normalised once."""
    both = (centre > 0.05) & (other > 0.05)
    if both.sum() < 50:
        return other
    return np.clip(other * float(np.median(centre[both] / other[both])), 0.0, 1.0).astype(np.float32)


def clean_stack(maps, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """(1 + 2 * CONTEXT, H, W) clean slices, the one to denoise first, and whether it is one slice repeated."""
    axis = int(rng.integers(0, 3))
    coarse = rng.random() < COARSE_SHARE
    if rng.random() < REPEAT_SHARE:
        if coarse:
            from mri_denoise_gui.ml.synthetic_coarse import coarse_slice

            img = coarse_slice(maps, rng, axis=axis)
        else:
            img = synth_slice(maps, rng, axis=axis)
        return np.stack([img] * (1 + 2 * CONTEXT)), True
    offsets = [0] + [k for d in range(1, CONTEXT + 1) for k in (-d, d)]
    if coarse:
        lo, hi = maps.brain_extent(axis)
        margin = (hi - lo) // 10
        index = int(rng.integers(lo + margin, hi - margin + 1))
        thickness = int(rng.integers(3, 7)) if rng.random() < 0.75 else int(rng.integers(1, 3))
        state = rng.bit_generator.state

        def draw(k, r):
            return synth_slice(thick_maps(maps, axis, index + k * thickness, thickness), r, axis=axis,
                               resample=coarse_resample(r))
    else:
        step = int(rng.integers(1, 5))
        state = rng.bit_generator.state

        def draw(k, r):
            return synth_slice(ShiftedMaps(maps, axis, k * step), r, axis=axis)
    slices, ends = [], []
    for k in offsets:
        r = _replay(state)
        slices.append(draw(k, r))
        ends.append(r.bit_generator.state)
    rng.bit_generator.state = ends[0]
    if any(end != ends[0] for end in ends):  # a neighbour without brain skipped a draw: not one stack
        return clean_stack(maps, rng)
    centre = slices[0]
    return np.stack([centre] + [_match(centre, s) for s in slices[1:]]), False


def stack_patch(stack: np.ndarray, rng: np.random.Generator, patch: int = PATCH) -> np.ndarray:
    """One random (patch, patch, C) crop of a (C, H, W) stack, zero-padded at random if smaller."""
    return np.ascontiguousarray(np.moveaxis(mldata.random_patch(stack, patch, rng), 0, -1))


class StackSampler:
    """Patches of synthetic stacks from the training slabs, a few per stack (as SyntheticPatchSampler)."""

    def __init__(self, chunks, rng):
        self.chunks, self.rng = chunks, rng
        sizes = np.asarray([c.shape[2] for c in chunks], float)
        self.weights = sizes / sizes.sum()
        self.current, self.left = None, 0

    def sample(self):
        if self.left <= 0:
            maps = self.chunks[int(self.rng.choice(len(self.chunks), p=self.weights))]
            self.current = clean_stack(maps, self.rng)
            self.left = 4 if self.current[0].shape[1] * self.current[0].shape[2] > PATCH * PATCH * 2 else 2
        self.left -= 1
        stack, repeated = self.current
        return stack_patch(stack, self.rng), np.float32(repeated)


def dataset(chunks, batch: int, seed: int, context: int = CONTEXT):
    import tensorflow as tf

    channels = 1 + 2 * context

    def generate():
        sampler = StackSampler(chunks, np.random.default_rng(seed))
        while True:
            stack, repeated = sampler.sample()
            yield stack[..., :channels], repeated

    ds = tf.data.Dataset.from_generator(generate, output_signature=(
        tf.TensorSpec((PATCH, PATCH, channels), tf.float32), tf.TensorSpec((), tf.float32)))
    ds = ds.shuffle(512, seed=seed).map(lambda p, r: (mldata.tf_augment(p), r), num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch, drop_remainder=True)

    def noisy(clean, repeated):
        noisy, clean, weight = mldata.tf_add_weighted_noise(clean, "rician+gaussian", VARIANCE_RANGE,
                                                            "inverse_sigma", LOW_SHARE)
        one = tf.tile(noisy[..., :1], [1, 1, 1, channels])  # a single-slice scan: the same noisy slice
        noisy = tf.where(tf.reshape(repeated, [-1, 1, 1, 1]) > 0.5, one, noisy)
        return noisy, clean[..., :1], weight

    return ds.map(noisy, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def train(args) -> int:
    import keras

    from mri_denoise_gui.ml.architectures import build_resunet, grow
    from mri_denoise_gui.ml.inference import Denoiser
    from mri_denoise_gui.ml.losses import l1_loss
    from mri_denoise_gui.ml.synthetic import TissueMaps
    from mri_denoise_gui.ml.synthetic_sets import SYNTH_TRAIN_SLABS
    from mri_denoise_gui.resources import default_model_dir

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    last, log = out / "last.keras", out / "log.csv"
    total = args.epochs * args.steps
    if args.resume and last.exists():
        model = keras.saving.load_model(last)
        initial = len(log.read_text().splitlines()) - 1 if log.exists() else 0
    else:
        shape = dict(width=args.width, levels=args.levels, unshuffle=2, noise_level=True, context=args.context)
        if not args.scratch and (args.levels, args.width) != (2, 16):
            raise SystemExit("--levels / --width: only with --scratch (the default is grown at its own shape)")
        if args.scratch:  # the default's shape, trained with the neighbours from the first step
            model = build_resunet(**shape)
        else:
            model = grow(Denoiser.load(default_model_dir(), precision="float32").model, "resunet", **shape)
        if args.warmup:  # from 0 up to --lr over the first steps, then the cosine
            schedule = keras.optimizers.schedules.CosineDecay(0.0, total - args.warmup, warmup_target=args.lr,
                                                              warmup_steps=args.warmup)
        else:
            schedule = keras.optimizers.schedules.CosineDecay(args.lr, total)
        model.compile(optimizer=keras.optimizers.Adam(schedule, use_ema=True, ema_momentum=0.999), loss=l1_loss)
        initial = 0
    maps = TissueMaps.load()
    chunks = [maps.slab(a, b) for a, b in SYNTH_TRAIN_SLABS]
    callbacks = [keras.callbacks.ModelCheckpoint(str(last)), keras.callbacks.CSVLogger(str(log), append=initial > 0)]
    model.fit(dataset(chunks, args.batch, args.seed + initial, args.context), epochs=args.epochs, initial_epoch=initial,
              steps_per_epoch=args.steps, callbacks=callbacks, verbose=2)
    model.save(out / "final.keras")  # fit ends with the EMA weights in the model
    (out / "probe.json").write_text(json.dumps({"context": args.context, "epochs": args.epochs, "steps": args.steps,
                                                "batch": args.batch, "lr": args.lr, "seed": args.seed,
                                                "scratch": args.scratch, "levels": args.levels,
                                                "width": args.width, "warmup": args.warmup}, indent=2))
    return 0


class ContextDenoiser:
    """``denoise_volume01`` for ``ml.evaluate``: each slice with its neighbours (reflected at the
    ends; a single slice repeated), padded and cropped as ``Denoiser`` does."""

    def __init__(self, model, name: str, context: int = CONTEXT, multiple: int = 8):
        import tensorflow as tf

        self.model, self.name, self.context, self.multiple = model, name, context, multiple
        self._predict = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    def denoise_volume01(self, data01, axis=2, batch_size=8):
        from mri_denoise_gui.ml.padding import crop_clip, pad_slices

        data01 = np.asarray(data01, np.float32)
        slices = data01[None] if data01.ndim == 2 else np.moveaxis(data01, axis, 0)
        n = len(slices)
        padded = pad_slices(slices, None, self.multiple)

        def reflect(i):
            if n == 1:
                return 0
            return -i if i < 0 else (2 * (n - 1) - i if i >= n else i)

        order = [[i] + [reflect(i + k) for d in range(1, self.context + 1) for k in (-d, d)] for i in range(n)]
        out = np.empty_like(padded)
        for start in range(0, n, batch_size):
            x = np.stack([np.stack([padded[j] for j in order[i]], -1) for i in range(start, min(n, start + batch_size))])
            out[start:start + len(x)] = np.asarray(self._predict(x))[..., 0]
        out = crop_clip(out, slices)
        return out[0] if data01.ndim == 2 else np.moveaxis(out, 0, axis)


def evaluate_sets(args) -> int:
    import keras

    from mri_denoise_gui.ml.architectures import stride
    from mri_denoise_gui.ml.evaluate import evaluate
    from mri_denoise_gui.ml.inference import Denoiser
    from mri_denoise_gui.resources import default_model_dir

    model = keras.saving.load_model(args.folder / "final.keras", compile=False)
    probe = json.loads((args.folder / "probe.json").read_text())
    multiple = stride("resunet", levels=probe.get("levels", 2), unshuffle=2)
    context = ContextDenoiser(model, "context", int(probe["context"]), multiple)
    kernel = model.get_layer("enc0_a").get_weights()[0]
    norms = np.sqrt((kernel ** 2).sum(axis=(0, 1, 3)))  # per input channel: 4 centre, 1 noise level, neighbours
    print(f"first convolution, weight norm per input channel: slice {np.mean(norms[:4]):.3f}, noise level "
          f"{norms[4]:.3f}, neighbours {np.mean(norms[5:]) if len(norms) > 5 else float('nan'):.3f} (mean)")
    default = Denoiser.load(default_model_dir(), precision="float32")
    default.name = "default"
    variances = [s * s for s in SIGMAS]
    work = args.folder / "eval"
    work.mkdir(exist_ok=True)
    sets = {}
    if args.synthetic:
        from bench_quality import write_held_out

        sets["synthetic held-out (test slab)"] = [(p, p.name) for p in write_held_out(work / "synthetic")]
    if args.real:
        from bench_real import write_scans

        sets["real (reserved, reporting only)"] = write_scans(work / "real")
    report = {}
    for title, files in sets.items():
        result = evaluate([p for p, _ in files], [default, context], noise_kind="rician", variances=variances,
                          baselines=(), axis=2, seed=0)
        report[title] = result
        print(f"\n## {title}")
        names = {str(p): name for p, name in files}
        for sigma in SIGMAS:
            rows = [r for r in result["per_file"] if math.isclose(r["sigma"], sigma)]
            by = {(r["file"], r["method"]): r["tissue_psnr"] for r in rows}
            deltas = []
            for f in dict.fromkeys(r["file"] for r in rows):
                d = by[(f, "context")] - by[(f, "default")]
                deltas.append(d)
                print(f"  sigma {sigma:.2f}  {names.get(f, Path(f).name)[:34]:<34} noisy {by[(f, 'noisy input')]:6.2f}"
                      f"  default {by[(f, 'default')]:6.2f}  context {by[(f, 'context')]:6.2f}  ({d:+.2f} dB)")
            print(f"  sigma {sigma:.2f}  mean change {np.mean(deltas):+.3f} dB, worst {min(deltas):+.3f} dB")
    (args.folder / "eval.json").write_text(json.dumps(report, indent=1, default=str))
    return 0


def compare(args) -> int:
    """Tissue PSNR of run A minus run B, per set and sigma, from the two runs' eval.json (each scored
    beside the same default with the same noise seeds, so the difference is the two networks')."""
    a, b = (json.loads((folder / "eval.json").read_text()) for folder in (args.a, args.b))
    for title in sorted(a.keys() & b.keys()):
        print(f"## {title}: {args.a.name} - {args.b.name}, tissue PSNR (dB)")
        scores = [{(Path(r["file"]).name, round(r["sigma"], 4)): r["tissue_psnr"] for r in run[title]["per_file"]
                   if r["method"] == "context"} for run in (a, b)]
        for sigma in SIGMAS:
            deltas = {f: v - scores[1][(f, s)] for (f, s), v in scores[0].items() if s == round(sigma, 4)}
            worst = min(deltas, key=deltas.get)
            print(f"  sigma {sigma:.2f}: mean {np.mean(list(deltas.values())):+.3f}, worst {deltas[worst]:+.3f} "
                  f"({worst}), best {max(deltas.values()):+.3f}, {len(deltas)} volumes")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--context", type=int, default=CONTEXT, choices=(0, CONTEXT))
    t.add_argument("--epochs", type=int, default=15)
    t.add_argument("--steps", type=int, default=300)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--lr", type=float, default=1e-4)
    t.add_argument("--seed", type=int, default=19)
    t.add_argument("--resume", action="store_true")
    t.add_argument("--scratch", action="store_true", help="a new network of the default's shape, not the default grown")
    t.add_argument("--levels", type=int, default=2, help="with --scratch: U-Net levels (the default's: 2; capacity A/B)")
    t.add_argument("--width", type=int, default=16, help="with --scratch: first level's filters (the default's: 16)")
    t.add_argument("--warmup", type=int, default=0, metavar="STEPS", help="linear warm-up steps before the cosine")
    e = sub.add_parser("eval")
    e.add_argument("folder", type=Path)
    e.add_argument("--real", action="store_true")
    e.add_argument("--synthetic", action="store_true")
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = parser.parse_args(argv)
    return {"train": train, "eval": evaluate_sets, "compare": compare}[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
