"""core/ and the CLI must load without Qt and TensorFlow (DESIGN.md layering)."""

import subprocess
import sys

import pytest

BLOCK = """
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in ('PyQt6', 'tensorflow', 'keras', 'pyqtgraph'):
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
"""


@pytest.mark.parametrize(
    "module",
    [
        "mri_denoise_gui.core.volume",
        "mri_denoise_gui.core.normalize",
        "mri_denoise_gui.core.noise",
        "mri_denoise_gui.core.metrics",
        "mri_denoise_gui.core.orientation",
        "mri_denoise_gui.core.baselines",
        "mri_denoise_gui.cli",
        "mri_denoise_gui.ml",
    ],
)
def test_module_imports_without_qt_or_tensorflow(module):
    code = BLOCK + f"import {module}\nassert not any(m.startswith(('PyQt6','tensorflow')) for m in sys.modules)\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_cli_parser_builds_without_tensorflow():
    code = BLOCK + "from mri_denoise_gui.cli import build_parser\nbuild_parser().parse_args(['info', 'x.nii'])\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("module", ["mri_denoise_gui.core", "mri_denoise_gui.cli", "mri_denoise_gui.ml"])
def test_importing_does_not_load_heavy_frameworks(module):
    """Unblocked, so an optional import that would pull TensorFlow in is caught too."""
    code = (
        f"import sys, {module}, mri_denoise_gui.cli as c\n"
        "c.build_parser()\n"
        "heavy = [m for m in ('PyQt6', 'tensorflow', 'keras') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
