"""core/, ml/, viewer/ and the CLI must load without Qt and TensorFlow (DESIGN.md layering)."""

import subprocess
import sys
from pathlib import Path

import pytest

BLOCK_TEMPLATE = """
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in {blocked!r}:
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
"""
QT = ("PyQt6", "pyqtgraph", "superqt")
BLOCK = BLOCK_TEMPLATE.format(blocked=QT + ("tensorflow", "keras"))
BLOCK_QT = BLOCK_TEMPLATE.format(blocked=QT)
PACKAGE = Path(__file__).resolve().parents[2] / "mri_denoise_gui"


def _modules(room: str) -> list[str]:
    """Every module of a room, found on disk so a new one is checked too."""
    return [f"mri_denoise_gui.{room}.{p.stem}" if p.stem != "__init__" else f"mri_denoise_gui.{room}"
            for p in sorted((PACKAGE / room).glob("*.py"))]


def _run(code: str) -> None:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("module", _modules("core") + _modules("viewer") + ["mri_denoise_gui.cli", "mri_denoise_gui.ml"])
def test_module_imports_without_qt_or_tensorflow(module):
    _run(BLOCK + f"import {module}\nassert not any(m.startswith(('PyQt6','tensorflow')) for m in sys.modules)\n")


@pytest.mark.parametrize("module", _modules("ml"))
def test_ml_module_imports_without_qt(module):
    """ml/ may import Keras (lazily where the CLI needs speed), never Qt."""
    _run(BLOCK_QT + f"import {module}\nassert not any(m.startswith('PyQt6') for m in sys.modules)\n")


def test_cli_parser_builds_without_tensorflow():
    code = BLOCK + "from mri_denoise_gui.cli import build_parser\nbuild_parser().parse_args(['info', 'x.nii'])\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("module", ["mri_denoise_gui.core", "mri_denoise_gui.cli", "mri_denoise_gui.ml",
                                    "mri_denoise_gui.viewer.session"])
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


def test_viewer_tests_pass_with_qt_and_tensorflow_unavailable():
    """The viewer session's own tests, run in a Python where PyQt6 and TensorFlow cannot be imported."""
    tests = PACKAGE.parent / "tests" / "unit"
    code = BLOCK + ("import pytest\nsys.exit(pytest.main(['-q', '-p', 'no:pytest-qt', '-p', 'no:cacheprovider', "
                    f"{str(tests / 'test_viewer_session.py')!r}, {str(tests / 'test_viewer_jobs.py')!r}]))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=PACKAGE.parent)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "blocked" not in proc.stdout
