"""The job state handed to background computations (no Qt)."""

from mri_denoise_gui.viewer.jobs import JobState, PercentThrottle


def test_progress_reports_each_whole_percent_once():
    reports = []
    throttle = PercentThrottle(reports.append)
    for done in range(1001):
        throttle(done, 1000)
    throttle(1000, 1000)
    assert reports == list(range(101))


def test_progress_on_few_steps_reports_every_step_and_clamps():
    reports = []
    throttle = PercentThrottle(reports.append)
    for done in (0, 1, 2, 3, 5):
        throttle(done, 3)
    assert reports == [0, 33, 66, 100]


def test_job_state_cancel_is_an_event_to_pass_on():
    state = JobState()
    assert not state.cancelled
    state.cancel.set()
    assert state.cancelled
