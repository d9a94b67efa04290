"""Train the models shipped in resources/models/ reproducibly: `make train-default` / `make train-seed`.

    python packaging/train_shipped_models.py default            # ~40 min on a 2-core CPU
    python packaging/train_shipped_models.py seed-autoencoder   # ~15 min

Training data: only synthetic contrasts derived from nilearn's MNI152 T1/GM/WM maps
(ml/synthetic.py), with one slab of the template held out for validation and one for the
quality benchmark. Noise: Rician or Gaussian per patch, sigma 1% to 10% of the range.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mri_denoise_gui.ml.train import TrainingConfig, train  # noqa: E402

RECIPES = {
    # the blind default: small residual U-Net at half resolution, SSIM+L1
    "default": dict(arch="resunet", arch_options={"width": 16, "levels": 2, "unshuffle": 2},
                    epochs=36, steps_per_epoch=300, batch_size=16, patch_size=96,
                    learning_rate=2e-3, loss="ssim_l1", lr_patience=3),
    # the tutorial's network and loss, trained on the same data and noise for a fair comparison
    "seed-autoencoder": dict(arch="seed-autoencoder", arch_options={"input_size": None},
                             epochs=12, steps_per_epoch=150, batch_size=16, patch_size=96,
                             learning_rate=2e-3, loss="ssim", lr_patience=3),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("which", choices=sorted(RECIPES))
    parser.add_argument("--out", type=Path, help="model folder (default: resources/models/<which>)")
    parser.add_argument("--epochs", type=int, help="override the recipe's epochs (for a quick check)")
    parser.add_argument("--steps", type=int, help="override the recipe's steps per epoch")
    args = parser.parse_args(argv)

    recipe = dict(RECIPES[args.which])
    if args.epochs:
        recipe["epochs"] = args.epochs
    if args.steps:
        recipe["steps_per_epoch"] = args.steps
    out = args.out or ROOT / "resources" / "models" / args.which
    config = TrainingConfig(out=str(out), synthetic=True, noise_kind="rician+gaussian",
                            variance_range=(1e-4, 1e-2), val_patches=192, seed=20241127, **recipe)
    started = time.time()

    def progress(event):
        if event["kind"] == "epoch":
            logs = event["logs"]
            print(f"[{time.time() - started:7.0f}s] epoch {event['epoch']}/{event['epochs']} "
                  f"loss {logs.get('loss', float('nan')):.4f} val_ssim {logs.get('val_ssim_metric', float('nan')):.4f} "
                  f"val_psnr {logs.get('val_psnr_metric', float('nan')):.2f} lr {logs.get('learning_rate', float('nan')):.2e}",
                  flush=True)

    result = train(config, progress=progress)
    print(f"done in {time.time() - started:.0f}s: {result.folder} best {result.best}", flush=True)
    return 0 if result.folder else 1


if __name__ == "__main__":
    raise SystemExit(main())
