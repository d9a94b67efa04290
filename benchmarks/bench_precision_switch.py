"""What a precision or strength switch of a loaded model costs, and what garbage it leaves.

Why: the window switches precision (Precision menu), strength (Model panel) and weights (an
adaptation, which trains in float32 and comes back to the fast copy) on a model that stays loaded
for hours. A switch that rebuilds the network and traces a new graph each time leaves the old copy
in reference cycles; Python's generation-2 collections then free them in pauses that grew to 41 s
in a long process (benchmarks/README.md, "The Rician noise floor"), holding the GIL, so the window
froze. This script loads the shipped default, switches ``--switches`` times (float32 <-> the fast
precision, strength 1 <-> 0.7, new weights), denoises one 256x256 slice after each, then times one
full ``gc.collect()`` and counts what it frees.

    python benchmarks/bench_precision_switch.py [--switches 20] [--precision bfloat16]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--switches", type=int, default=20)
    parser.add_argument("--precision", default="bfloat16", help="the fast precision to switch to (forced)")
    parser.add_argument("--model", default=str(ROOT / "resources" / "models" / "default"))
    args = parser.parse_args(argv)

    from mri_denoise_gui.ml.inference import Denoiser

    denoiser = Denoiser.load(args.model, precision="float32")
    image = np.random.default_rng(0).random((256, 256), dtype=np.float32)
    denoiser.denoise_slice01(image)
    weights = denoiser.model.get_weights()
    gc.collect()
    gc.disable()  # count what the switches leave, not what automatic collections free on the way
    rows = []
    for kind in ("precision", "strength", "weights"):
        started = time.perf_counter()
        for i in range(args.switches):
            if kind == "precision":
                denoiser.set_precision(args.precision if i % 2 == 0 else "float32")
            elif kind == "strength":
                if i == 0:
                    denoiser.set_precision(args.precision)
                denoiser.set_strength(0.7 if i % 2 == 0 else 1.0)
            else:
                denoiser.set_weights([w * (1.0 + 1e-3 * (i % 2)) for w in weights])
            denoiser.denoise_slice01(image)
        switching = (time.perf_counter() - started) / args.switches
        started = time.perf_counter()
        freed = gc.collect()
        rows.append((kind, switching, time.perf_counter() - started, freed))
    gc.enable()
    print(f"{args.switches} switches of each kind, one 256x256 slice denoised after each")
    print("| switch | s per switch + slice | gc.collect() after, s | objects freed |")
    print("|---|---:|---:|---:|")
    for kind, switching, collect, freed in rows:
        print(f"| {kind} | {switching:.3f} | {collect:.2f} | {freed} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
