"""Where the time goes: the default model layer by layer, in float32 and in its bfloat16 copies.

Each layer of the network is timed alone on the tensors it sees in a real forward pass (batch of
256x256 slices), in float32, in the copy inference uses (first two convolutions, noise estimate and
output tail float32) and in an all-bfloat16 copy (only the tail float32); then the whole network
with and without XLA (``jit_compile``). Everything alternates in one process (best of ``--rounds``),
so the ratios hold under background load. The GFLOP column says what share of the arithmetic each
layer is, and the summary what a perfect speed-up of the bfloat16 layers alone could give.

Run it on a CPU with native bfloat16 (``avx512_bf16`` / ``amx_bf16``) to see where the copy loses
against the issue's 2.37x; on other CPUs the bfloat16 rows measure emulation. ``ONEDNN_VERBOSE=1``
beside it names the kernels (``brg_conv_fwd:avx512_core_amx`` etc.); TensorFlow enables oneDNN by
default only on CPUs with AVX-512 VNNI / BF16 / AMX (``TF_ENABLE_ONEDNN_OPTS=1`` forces it).

    python benchmarks/bench_precision_layers.py [--batch 16] [--rounds 3]
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

import numpy as np  # noqa: E402


SHORT = {"float32": "f32", "bfloat16": "bf16", "float16": "f16"}


def conv_gflop(layer, out_shape) -> float:
    """Multiply-adds x 2 of a (transposed) convolution per call, from its kernel and output shape."""
    kernel = getattr(layer, "kernel", None)
    if kernel is None:
        return 0.0
    kh, kw, a, b = kernel.shape
    _, h, w, _ = out_shape
    if type(layer).__name__ == "Conv2DTranspose":  # kernel (kh, kw, out, in); each output gets kh*kw/s^2 taps
        sh, sw = layer.strides
        return 2.0 * h * w * a * b * kh * kw / (sh * sw) / 1e9
    return 2.0 * h * w * kh * kw * a * b / 1e9


def layer_calls(model, x):
    """name -> (a traced call of that layer alone, the arguments it gets in a forward pass of ``x``)."""
    import keras
    import tensorflow as tf

    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    values = keras.Model(model.inputs, [layer.output for layer in layers])(x)
    by_id = {id(model.inputs[0]): x}
    by_id.update({id(layer.output): v for layer, v in zip(layers, values)})
    calls = {}
    for layer, value in zip(layers, values):
        args = tf.nest.map_structure(lambda t: by_id.get(id(t), t), layer._inbound_nodes[0].arguments.args)
        fn = tf.function(lambda a, layer=layer: layer(*a))
        fn(args)
        calls[layer.name] = (fn, args, tuple(value.shape))
    return calls


def best_ms(fn, arg, reps: int) -> float:
    started = time.perf_counter()
    for _ in range(reps):
        out = fn(arg)
    np.asarray(out).ravel()[:1]  # wait for the result
    return 1e3 * (time.perf_counter() - started) / reps


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reps", type=int, default=5, help="calls per timing")
    parser.add_argument("--precision", default="bfloat16", choices=("bfloat16", "float16"))
    args = parser.parse_args(argv)
    import tensorflow as tf

    from mri_denoise_gui.ml import precision as mlprecision
    from mri_denoise_gui.ml.inference import Denoiser
    from mri_denoise_gui.resources import default_model_dir

    tf.get_logger().setLevel("ERROR")  # one trace per layer is the point here, not retracing
    model = Denoiser.load(default_model_dir(), precision="float32").model
    p = args.precision
    copies = {"float32": model, f"{p} copy": mlprecision.mixed_copy(model, p),
              f"all {p}": mlprecision.mixed_copy(model, p, head_convs=0)}
    x = tf.constant(np.random.default_rng(0).random((args.batch, 256, 256, 1)).astype(np.float32))
    calls = {k: layer_calls(m, x) for k, m in copies.items()}
    whole = {}
    for k, m in copies.items():
        whole[k] = tf.function(lambda a, m=m: m(a, training=False))
        whole[f"{k} XLA"] = tf.function(lambda a, m=m: m(a, training=False), jit_compile=True)
    for fn in whole.values():
        fn(x)
    best: dict = {}
    for _ in range(args.rounds):
        for k in copies:
            for name, (fn, a, _) in calls[k].items():
                best[(k, name)] = min(best.get((k, name), np.inf), best_ms(fn, a, args.reps))
        for k, fn in whole.items():
            best[("whole", k)] = min(best.get(("whole", k), np.inf), best_ms(fn, x, args.reps))
    names = list(calls["float32"])
    kinds = list(copies)
    dtypes = {k: mlprecision.compute_dtypes(m) for k, m in copies.items()}
    print(f"cpu native bf16: {mlprecision.cpu_has_native_bf16()}; batch {args.batch} of 256x256; "
          f"ms per call, best of {args.rounds} rounds; {len(os.sched_getaffinity(0))} CPUs usable")
    print(f"{'layer':<17}{'GFLOP':>7}" + "".join(f"{k:>16}" for k in kinds) + f"{'f32/copy':>15}{'f32/all':>15}")
    layers = {layer.name: layer for layer in model.layers}
    totals = {k: 0.0 for k in kinds}
    flops = {"all": 0.0, "kept": 0.0}
    for name in names:
        gf = conv_gflop(layers[name], calls["float32"][name][2])
        flops["all"] += gf
        flops["kept"] += gf if dtypes[kinds[1]][name] == "float32" else 0.0
        ms = [best[(k, name)] for k in kinds]
        for k, v in zip(kinds, ms):
            totals[k] += v
        cells = "".join(f"{v:>11.2f} {SHORT[dtypes[k][name]]:<4}" for k, v in zip(kinds, ms))
        print(f"{name:<17}{gf * args.batch:>7.2f}{cells}" + "".join(f"{ms[0] / v:>15.2f}" for v in ms[1:]))
    print(f"{'sum of layers':<17}{flops['all'] * args.batch:>7.2f}" + "".join(f"{totals[k]:>16.2f}" for k in kinds)
          + "".join(f"{totals[kinds[0]] / totals[k]:>15.2f}" for k in kinds[1:]))
    for k in whole:
        ms = best[("whole", k)]
        print(f"whole network, {k:<22} {ms:9.2f} ms = {1e3 * args.batch / ms:7.1f} slices/s "
              f"({best[('whole', 'float32')] / ms:.2f}x float32)")
    share = flops["kept"] / flops["all"]
    print(f"the {kinds[1]} keeps {100 * share:.1f}% of the convolution GFLOP in float32: even a free "
          f"{p} part caps it at {1 / share:.1f}x; at 2.37x on the rest (issue 19) at "
          f"{1 / (share + (1 - share) / 2.37):.2f}x, before the layers without arithmetic")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
