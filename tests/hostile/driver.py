"""Run many `mri-denoise` command lines in one process (TensorFlow imported once) and report each.

    python -m tests.hostile.driver SPEC.json  ->  a JSON list on stdout, one entry per run:
    {"argv", "code", "stdout", "stderr", "rss_growth_mb"}

SPEC: {"import_tf": bool, "tiny_model": folder to create or null, "runs": [[arg, ...], ...]}.
Peak memory (ru_maxrss) is read before and after each run: the size-bomb runs come first,
so a growth there is memory the run allocated.
"""

from __future__ import annotations

import contextlib
import io
import json
import resource
import sys


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _make_tiny_model(folder: str) -> None:
    from mri_denoise_gui.ml.architectures import build, stride
    from mri_denoise_gui.ml.modelfile import save_model_folder

    meta = {"name": "tiny", "architecture": "tiny", "architecture_options": {}, "stride": stride("tiny"),
            "normalizer": {"method": "percentile", "low": 0.5, "high": 99.5}}
    save_model_folder(build("tiny"), folder, meta)


def run_all(spec: dict) -> list[dict]:
    from mri_denoise_gui.cli import main

    if spec.get("import_tf"):
        import tensorflow  # noqa: F401  (so its memory is in the baseline, not in the first run)
    if spec.get("tiny_model"):
        _make_tiny_model(spec["tiny_model"])
    results = []
    for argv in spec["runs"]:
        out, err = io.StringIO(), io.StringIO()
        before = _maxrss_mb()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse usage errors
                code = exc.code if isinstance(exc.code, int) else 2
        results.append({"argv": argv, "code": code, "stdout": out.getvalue(), "stderr": err.getvalue(),
                        "rss_growth_mb": _maxrss_mb() - before})
    return results


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as fh:
        print(json.dumps(run_all(json.load(fh))))
