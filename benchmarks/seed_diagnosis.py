"""Why the seed autoencoder darkens tissue (issue 14, item 3): two diagnostics on synthetic slices
from the MNI validation / training slabs (never the reserved real scans).

    python benchmarks/seed_diagnosis.py ssim-black          # the SSIM loss's all-black optimum
    python benchmarks/seed_diagnosis.py modes MODEL_DIR     # BN moving stats vs batch stats vs re-estimated
    python benchmarks/seed_diagnosis.py tissue MODEL_DIR ...  # the selection score: tissue SSIM / PSNR vs noisy
    python benchmarks/seed_diagnosis.py dropout-brightness  # how little SSIM cares about brightness under output dropout
    python benchmarks/seed_diagnosis.py train-clean OUT     # the shipped seed recipe with no noise: what the
                                                            # architecture can reconstruct at best (then score
                                                            # OUT with bench_real.py --sigmas 0 ...)

Results and what they mean: benchmarks/README.md, "Real scans".
"""
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from mri_denoise_gui.core.metrics import foreground_mask, psnr, ssim  # noqa: E402
from mri_denoise_gui.core.noise import add_noise  # noqa: E402
from mri_denoise_gui.ml.inference import _load_keras  # noqa: E402
from mri_denoise_gui.ml.losses import ssim_masked_loss  # noqa: E402
from mri_denoise_gui.ml.synthetic import TissueMaps, synth_slice  # noqa: E402
from mri_denoise_gui.ml.train import SYNTH_TRAIN_SLABS, SYNTH_VAL_SLAB  # noqa: E402


def slices(slab, n, seed):
    """n synthetic slices of the slab, zero-padded / cropped to the tutorial's 256x256."""
    maps = TissueMaps.load().slab(*slab)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        c = synth_slice(maps, rng, axis=2)[:256, :256]
        out.append(np.pad(c, ((0, 256 - c.shape[0]), (0, 256 - c.shape[1]))))
    return np.stack(out).astype(np.float32)


def ssim_black():
    c = slices(SYNTH_VAL_SLAB, 32, 0)[..., None]
    noisy = np.clip(c + np.random.default_rng(1).normal(0, 0.1, c.shape), 0, 1).astype(np.float32)
    f = lambda y: float(tf.reduce_mean(tf.image.ssim(tf.constant(c), tf.constant(y), max_val=1.0)))
    print(f"fraction of exactly-zero pixels in the clean slices: {np.mean(c == 0):.3f}; below 0.02: {np.mean(c < 0.02):.3f}")
    print(f"SSIM (the loss's, whole 256x256 slice): noisy input (localvar 0.01) {f(noisy):.3f}; all-black output {f(np.zeros_like(c)):.3f}; "
          f"the clean slice darkened x0.35 {f(c*0.35):.3f}; noisy with background zeroed {f(np.where(c>0, noisy, 0)):.3f}")
    m = lambda y: 1.0 - float(tf.reduce_mean(ssim_masked_loss(tf.constant(c), tf.constant(y))))
    print(f"tissue-window SSIM (the ssim_masked loss's score): noisy input {m(noisy):.3f}; all-black output {m(np.zeros_like(c)):.3f}; "
          f"the clean slice darkened x0.35 {m(c*0.35):.3f}; noisy with background zeroed {m(np.where(c>0, noisy, 0)):.3f}")
    # the same slices with a scanner-like noise floor in the clean target (Rician, sigma 2% / 4%)
    for floor in (0.02, 0.04):
        r = np.random.default_rng(2)
        cf = np.sqrt((c + r.normal(0, floor, c.shape))**2 + r.normal(0, floor, c.shape)**2).astype(np.float32)
        nf = np.clip(cf + np.random.default_rng(1).normal(0, 0.1, c.shape), 0, 1).astype(np.float32)
        g = lambda y: float(tf.reduce_mean(tf.image.ssim(tf.constant(cf), tf.constant(y), max_val=1.0)))
        flat = np.where(c > 0, 0.0, float(cf[c == 0].mean())).astype(np.float32)  # tissue black, background flat at the floor's mean
        print(f"clean target with a Rician floor of {floor:.2f}: noisy input {g(nf):.3f}; all-black output {g(np.zeros_like(cf)):.3f}; "
              f"black tissue on a flat background at the floor's mean {g(flat):.3f}")


def modes(folder):
    m = _load_keras(Path(folder) / "model.keras")
    clean = slices(SYNTH_VAL_SLAB, 16, 0)
    mask = foreground_mask(clean)
    def run(noisy, training):
        return np.clip(np.concatenate([m(noisy[i:i+8, ..., None], training=training).numpy()[..., 0] for i in range(0, len(noisy), 8)]), 0, 1)
    def set_dropout(rate):
        for l in m.layers:
            if l.name.startswith("dropout"): l.rate = rate
    def report(tag, noisy):
        rows = [("noisy", noisy), ("inference (moving stats)", run(noisy, False))]
        set_dropout(0.0); rows.append(("BN batch stats, no dropout", run(noisy, True))); set_dropout(0.2)
        rows.append(("training mode (dropout on)", run(noisy, True)))
        for name, out in rows:
            t = [ssim(clean[i], out[i], mask[i]) for i in range(len(clean))]
            print(f"{tag:<14} {name:<30} tissue PSNR {psnr(clean, out, mask):6.2f}  tissue SSIM {np.mean(t):.4f}  "
                  f"PSNR {psnr(clean, out):6.2f}  tissue mean {out[mask].mean():.3f} (clean {clean[mask].mean():.3f})", flush=True)
    cases = {f"rician {s:.2f}": np.clip(add_noise(clean, "rician", s*s, seed=3), 0, 1).astype(np.float32) for s in (0.05, 0.1)}
    cases["localvar 0.01"] = np.clip(add_noise(clean, "gaussian", 0.01, seed=4), 0, 1).astype(np.float32)
    for tag, noisy in cases.items():
        report(tag, noisy)
    # re-estimate BN statistics with dropout off, on training-slab slices with tutorial noise (exact averages)
    train_clean = slices(SYNTH_TRAIN_SLABS[0], 64, 1)
    train_noisy = np.clip(train_clean + np.random.default_rng(5).normal(0, 0.1, train_clean.shape), 0, 1).astype(np.float32)
    set_dropout(0.0)
    for l in m.layers:
        if isinstance(l, keras.layers.BatchNormalization):
            l.momentum = 0.0  # one batch = the new statistics; then average over batches
    bns = [l for l in m.layers if isinstance(l, keras.layers.BatchNormalization)]
    sums = {l.name: [0, 0] for l in bns}
    for i in range(0, 64, 8):
        m(train_noisy[i:i+8, ..., None], training=True)
        for l in bns:
            sums[l.name][0] += l.moving_mean.numpy() / 8; sums[l.name][1] += l.moving_variance.numpy() / 8
    for l in bns:
        l.moving_mean.assign(sums[l.name][0]); l.moving_variance.assign(sums[l.name][1])
    set_dropout(0.2)
    print("-- BN statistics re-estimated without dropout (64 training-slab slices, localvar 0.01):")
    for tag, noisy in cases.items():
        out = run(noisy, False)
        t = [ssim(clean[i], out[i], mask[i]) for i in range(len(clean))]
        print(f"{tag:<14} {'inference, recalibrated BN':<30} tissue PSNR {psnr(clean, out, mask):6.2f}  tissue SSIM {np.mean(t):.4f}  PSNR {psnr(clean, out):6.2f}  tissue mean {out[mask].mean():.3f}", flush=True)


def dropout_brightness():
    """In training the seed's last Dropout(0.2) zeroes 20 % of the one output channel, which the final
    BatchNorm maps to one value d: score outputs a * clean + (1 - a) * d on the kept pixels, d on the
    dropped ones, with the plain and the tissue-window SSIM (how hard each pulls towards a = 1)."""
    from mri_denoise_gui.ml.losses import ssim_loss

    c = slices(SYNTH_VAL_SLAB, 16, 0)[..., None]
    keep = np.random.default_rng(9).random(c.shape) >= 0.2

    def score(y):
        return (1 - float(tf.reduce_mean(ssim_loss(c, y))), 1 - float(tf.reduce_mean(ssim_masked_loss(c, y))))

    for d in (0.0, 0.1, 0.3, 0.45):
        row = [f"a={a:.1f}: {'%.3f / %.3f' % score(np.where(keep, a * c + (1 - a) * d, d).astype(np.float32))}"
               for a in (1.0, 0.8, 0.6, 0.4, 0.2, 0.0)]
        print(f"d={d:.2f} (SSIM / tissue-window SSIM)  " + "  ".join(row), flush=True)


def tissue(folders, n=32):
    """The selection score for seed recipes: full 256x256 validation-slab slices, Rician 5 / 7.5 /
    10 % and localvar 0.01 (Gaussian sigma 10 %), tissue SSIM (mean over slices) and tissue PSNR
    inside the clean slice's foreground mask, against the noisy input. Inference mode, as shipped."""
    clean = slices(SYNTH_VAL_SLAB, n, 0)
    mask = foreground_mask(clean)
    cases = {f"rician {s:.3f}": np.clip(add_noise(clean, "rician", s * s, seed=3), 0, 1).astype(np.float32)
             for s in (0.05, 0.075, 0.1)}
    cases["localvar 0.01"] = np.clip(add_noise(clean, "gaussian", 0.01, seed=4), 0, 1).astype(np.float32)
    models = {"noisy input": None}
    models.update({str(f): _load_keras(Path(f) / "model.keras") for f in folders})
    means = {name: [] for name in models}
    for tag, noisy in cases.items():
        for name, m in models.items():
            out = noisy if m is None else np.clip(np.concatenate(
                [m(noisy[i:i + 8, ..., None], training=False).numpy()[..., 0] for i in range(0, n, 8)]), 0, 1)
            t = float(np.mean([ssim(clean[i], out[i], mask[i]) for i in range(n)]))
            means[name].append((t, psnr(clean, out, mask)))
            print(f"{tag:<14} {name[-40:]:<40} tissue SSIM {t:.4f}  tissue PSNR {psnr(clean, out, mask):6.2f}  "
                  f"PSNR {psnr(clean, out):6.2f}  tissue mean {out[mask].mean():.3f} (clean {clean[mask].mean():.3f})", flush=True)
    for name, rows in means.items():
        print(f"mean over the {len(cases)} noise cases  {name[-40:]:<40} tissue SSIM {np.mean([r[0] for r in rows]):.4f}  "
              f"tissue PSNR {np.mean([r[1] for r in rows]):6.2f}")


def train_clean(out):
    """The shipped seed recipe (`make train-seed`) with the noise taken out: input = target. What
    this network reproduces of a clean slice bounds what it can give from a noisy one; if even that
    is below the noisy input's tissue SSIM, no training recipe makes the tutorial's network beat it."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "packaging"))
    from train_shipped_models import run

    run("seed-autoencoder", Path(out), variance_range=(0.0, 0.0))


if __name__ == "__main__":
    if sys.argv[1:2] == ["ssim-black"]:
        ssim_black()
    elif sys.argv[1:2] == ["modes"] and len(sys.argv) == 3:
        modes(sys.argv[2])
    elif sys.argv[1:2] == ["dropout-brightness"]:
        dropout_brightness()
    elif sys.argv[1:2] == ["train-clean"] and len(sys.argv) == 3:
        train_clean(sys.argv[2])
    elif sys.argv[1:2] == ["tissue"] and len(sys.argv) >= 3:
        tissue(sys.argv[2:])
    else:
        raise SystemExit(__doc__)
