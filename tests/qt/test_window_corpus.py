"""The whole hostile corpus (tests/hostile/corpus.py) through the real window's Open action.

The CLI runs the same corpus in tests/hostile: the window must take the same decision for every
file (refuse with one line naming the reason, or open it), lose nothing, and stay usable.
"""

from __future__ import annotations

import hashlib

from tests.hostile.corpus import build_corpus
from tests.qt.conftest import MODEL_TIMEOUT_MS, open_and_wait
from tests.qt.test_window_never_crashes import assert_one_line_message


def _digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def test_every_corpus_file_is_refused_in_one_line_or_opened_like_the_cli(qtbot, window, tmp_path, small_file,
                                                                          capfd, monkeypatch):
    monkeypatch.setenv("MRI_DENOISE_LOG_DIR", str(tmp_path / "logs"))
    folder = tmp_path / "hostile"
    cases = build_corpus(folder)
    before = _digests(folder)
    wrong = []
    for case in cases.values():
        window.last_error = None
        if case.expect == "refuse":
            with qtbot.waitSignal(window.errorShown, timeout=60_000):
                window.open_file(case.path, volume_index=0)
            window.tasks.join(30)
            reason = assert_one_line_message(window)
            if case.reason.lower() not in reason.lower():
                wrong.append(f"{case.name}: refused with {reason!r}, the CLI says {case.reason!r}")
        else:
            open_and_wait(qtbot, window, case.path, volume_index=0)
            if window.last_error is not None or window.data is None:
                wrong.append(f"{case.name}: not opened ({window.last_error})")
            elif case.reason and not any(case.reason.lower() in w.lower() for w in window.data.volume.warnings):
                wrong.append(f"{case.name}: no {case.reason!r} warning in {window.data.volume.warnings}")
    assert not wrong, "\n".join(wrong)
    assert _digests(folder) == before  # every input byte-identical
    assert not (folder / "missing.nii.gz").exists()
    open_and_wait(qtbot, window, small_file)  # still usable
    assert window.data.volume.path == small_file.resolve()
    assert "Traceback" not in capfd.readouterr().err


def test_every_hostile_model_folder_is_refused_in_one_line_and_the_window_keeps_working(
        qtbot, window, tmp_path, small_file, capfd, monkeypatch):
    """tests/hostile/model_corpus.py through Model > Load model: the CLI's words, nothing changed."""
    from tests.hostile.model_corpus import WITH_TF, WITHOUT_TF, build_model_corpus

    monkeypatch.setenv("MRI_DENOISE_LOG_DIR", str(tmp_path / "logs"))
    folders = build_model_corpus(tmp_path / "models")
    before = {name: _digests(folder) for name, folder in folders.items()}
    open_and_wait(qtbot, window, small_file)
    wrong = []
    for name, words in {**WITHOUT_TF, **WITH_TF}.items():
        with qtbot.waitSignal(window.modelFailed, timeout=MODEL_TIMEOUT_MS):
            window.load_model(folders[name])
        reason = assert_one_line_message(window)
        if words.lower() not in reason.lower():
            wrong.append(f"{name}: refused with {reason!r}, the CLI says {words!r}")
    assert not wrong, "\n".join(wrong)
    assert {name: _digests(folder) for name, folder in folders.items()} == before
    with qtbot.waitSignal(window.modelReady, timeout=MODEL_TIMEOUT_MS):  # a good model still loads and runs
        window.load_model(folders["good"])
    assert window.model["folder"] == str(folders["good"])
    assert "Traceback" not in capfd.readouterr().err
