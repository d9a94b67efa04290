"""The window's job runner: latest wins per name, progress, cancel, errors as signals, synchronous mode."""

from __future__ import annotations

import threading

import pytest

from mri_denoise_gui.core.volume import VolumeError
from mri_denoise_gui.qt.tasks import JobRunner


@pytest.fixture
def runner(qtbot):
    r = JobRunner()
    yield r
    r.cancel_all()
    r.join(10)


def test_only_the_newest_job_of_a_name_reports(qtbot, runner):
    release = threading.Event()
    results = []

    def slow(state):
        release.wait(10)
        return "old"

    first = runner.run("noise", slow, results.append)
    with qtbot.waitSignal(runner.finished, timeout=10_000) as blocker:
        runner.run("noise", lambda state: "new", results.append)
    assert blocker.args == ["noise", "new"] and first.cancelled  # the older one was asked to stop
    release.set()
    runner.join(10)
    qtbot.wait(50)  # the old job's queued result, if it were delivered, would arrive now
    assert results == ["new"] and not runner.is_running("noise")


def test_jobs_of_other_names_do_not_supersede_each_other(qtbot, runner):
    results = []
    runner.run("a", lambda state: 1, results.append)
    runner.run("b", lambda state: 2, results.append)
    qtbot.waitUntil(lambda: len(results) == 2, timeout=10_000)
    assert sorted(results) == [1, 2]


def test_progress_failure_and_cancel(qtbot, runner):
    percents, failures = [], []

    def counting(state):
        for done in range(1, 11):
            state.set_progress(done, 10)
        raise VolumeError("the file is truncated")

    with qtbot.waitSignal(runner.failed, timeout=10_000) as blocker:
        runner.run("load", counting, on_failed=lambda r, d: failures.append(r), on_progress=percents.append)
    assert blocker.args[:2] == ["load", "the file is truncated"] and failures == ["the file is truncated"]
    assert percents == list(range(10, 101, 10))

    started, seen = threading.Event(), []

    def until_cancelled(state):
        started.set()
        state.cancel.wait(10)
        return "cancelled work"

    runner.run("load", until_cancelled, seen.append, lambda r, d: seen.append(r))
    assert started.wait(10) and runner.cancel("load") and not runner.cancel("load")
    runner.join(10)
    qtbot.wait(50)
    assert seen == []  # a cancelled job reports nothing


def test_a_failing_result_handler_is_reported_as_a_failure(qtbot, runner):
    failures = []

    def broken(result):
        raise RuntimeError("handler broke")

    runner.synchronous = True
    runner.run("export", lambda state: 1, broken, lambda r, d: failures.append(r))
    assert failures and "handler broke" in failures[0]


def test_synchronous_mode_runs_in_place(runner):
    runner.synchronous = True
    results = []
    runner.run("metrics", lambda state: threading.current_thread().name, results.append)
    assert results == [threading.current_thread().name] and not runner.busy
