"""A candidate default: the shipped default's network, same weights, with the Wiener refinement
(``layers.PilotWiener``) appended to its output and no training (candidate C42 in
benchmarks/README.md; the shipped default is this fine-tuned through it, stage 6); written for
synth_val / bench_real / bench_inference.

    python packaging/refined_candidate.py OUT [--block 4] [--stride 2]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    from mri_denoise_gui.ml.layers import WIENER_BLOCK, WIENER_STRIDE

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--base", type=Path, default=ROOT / "resources" / "models" / "default")
    parser.add_argument("--block", type=int, default=WIENER_BLOCK)
    parser.add_argument("--stride", type=int, default=WIENER_STRIDE)
    args = parser.parse_args(argv)
    import keras

    from mri_denoise_gui.ml import architectures
    from mri_denoise_gui.ml.modelfile import save_model_folder

    meta = json.loads((args.base / "model.json").read_text())
    source = keras.saving.load_model(args.base / "model.keras", safe_mode=True, compile=False)
    options = dict(meta["architecture_options"], wiener=True, wiener_block=args.block, wiener_stride=args.stride)
    model = architectures.grow(source, meta["architecture"], **options)  # the same weights, no new ones
    keep = {k: v for k, v in meta.items() if k not in ("format_version", "input_channels", "parameters",
                                                        "created", "versions")}
    keep["architecture_options"] = options
    keep["config"] = dict(meta["config"], arch_options=options)
    keep["name"] = args.out.name
    keep["refinement"] = f"PilotWiener block {args.block} stride {args.stride}, no training (weights of {args.base.name})"
    save_model_folder(model, args.out, keep)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
