"""The right side of the training dialog: the plan, the progress bars, the curves, the log, the result.

Why a widget of its own: it only follows events (the plan dict, progress events from
`ml.train`, the result dict) and never decides anything, so the dialog keeps the config, the
worker and the buttons, and this module keeps what is shown while a run goes.
"""

from __future__ import annotations

import time
from datetime import datetime

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QFont
from PyQt6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar, QSplitter, QVBoxLayout, QWidget

from mri_denoise_gui.ml.training_plan import epoch_summary
from mri_denoise_gui.qt.training_plot import TrainingCurves
from mri_denoise_gui.qt.training_report import format_duration, result_text

LOG_LINES = 2000


class TrainingProgressPanel(QWidget):
    """Plan summary, epoch and batch bars with time left, live curves, log and result line."""

    epoch_line = staticmethod(epoch_summary)  # the log line of an epoch event (the adapt dialog has its own)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._t0: float | None = None
        self._rate_origin: tuple[float, int] | None = None  # (time, steps done) at the first batch
        self._out = ""
        plan_group = QGroupBox("What will happen")
        self.plan_label = QLabel("Loading TensorFlow in the training worker…")
        self.plan_label.setObjectName("planLabel")
        self.plan_label.setWordWrap(True)
        self.plan_label.setTextFormat(Qt.TextFormat.RichText)
        self.plan_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.plan_label.setMinimumHeight(64)
        QVBoxLayout(plan_group).addWidget(self.plan_label)

        progress_group = QGroupBox("Progress")
        self.epoch_bar = QProgressBar()
        self.epoch_bar.setObjectName("epochProgress")
        self.epoch_bar.setFormat("Epoch %v / %m")
        self.batch_bar = QProgressBar()
        self.batch_bar.setObjectName("batchProgress")
        self.batch_bar.setFormat("Batch %v / %m")
        self.time_label = QLabel("Not started")
        self.time_label.setObjectName("timeRemainingLabel")
        self.time_label.setMinimumWidth(190)
        grid = QHBoxLayout(progress_group)
        bars = QVBoxLayout()
        bars.setSpacing(3)
        bars.addWidget(self.epoch_bar)
        bars.addWidget(self.batch_bar)
        grid.addLayout(bars, 1)
        grid.addWidget(self.time_label)

        self.curves = TrainingCurves()
        self.log_view = QPlainTextEdit()
        self.log_view.setObjectName("trainingLog")
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(LOG_LINES)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        mono.setPointSize(9)
        self.log_view.setFont(mono)
        self.log_view.setPlaceholderText("Training log")

        split = QSplitter(Qt.Orientation.Vertical)
        split.setObjectName("trainingSplitter")
        split.addWidget(self.curves)
        split.addWidget(self.log_view)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setChildrenCollapsible(False)
        split.setSizes([420, 140])

        self.result_label = QLabel()
        self.result_label.setObjectName("resultLabel")
        self.result_label.setWordWrap(True)
        self.result_label.setTextFormat(Qt.TextFormat.RichText)
        self.result_label.setVisible(False)

        rv = QVBoxLayout(self)
        rv.setContentsMargins(0, 0, 0, 0)
        rv.addWidget(plan_group)
        rv.addWidget(progress_group)
        rv.addWidget(split, 1)
        rv.addWidget(self.result_label)
        rv.setContentsMargins(0, 0, 0, 0)

    def begin_run(self, config: dict) -> None:
        """Reset everything for a run of ``config`` (a dict)."""
        self._t0, self._rate_origin, self._out = None, None, str(config.get("out"))
        self.curves.clear()
        self.result_label.setVisible(False)
        self.epoch_bar.setRange(0, int(config.get("epochs", 1)))
        self.epoch_bar.setValue(0)
        self.batch_bar.setRange(0, int(config.get("steps_per_epoch", 1)))
        self.batch_bar.setValue(0)
        self.time_label.setText("Preparing data…")
        self.append_log(f"Start: {config.get('arch')} → {config.get('out')}")

    def show_result(self, result: dict, run_started: float) -> None:
        """The end of a run: the best scores (or why nothing was kept), the time, a log line."""
        best = result.get("best") or {}
        noisy = best.get("noisy_input") or {}
        if noisy:
            self.curves.set_noisy_reference(noisy.get("ssim"), noisy.get("psnr"))
        folder, epochs = result.get("folder"), result.get("epochs_run", 0)
        self.result_label.setText(result_text(result))
        self.result_label.setVisible(True)
        self.time_label.setText("Cancelled" if result.get("cancelled") else
                                f"Done in {format_duration(time.time() - run_started)}")
        self.append_log(("Cancelled" if result.get("cancelled") else "Finished") +
                        f" after {epochs} epoch{'s' if epochs != 1 else ''}" +
                        (f"; model in {folder}" if folder else "; nothing saved"))

    def show_failure(self, reason: str) -> None:
        self.time_label.setText("Failed")
        self.result_label.setText(f"<span style='color:#ff8a80'>Training failed: {reason}</span>")
        self.result_label.setVisible(True)
        self.append_log(f"ERROR {reason}")

    def append_log(self, text: str) -> None:
        self.log_view.appendPlainText(f"{datetime.now():%H:%M:%S}  {text}")

    def show_progress(self, event: dict) -> None:
        """One (throttled) event from `ml.train`: bars, curves, time left and the log follow it."""
        kind = event.get("kind")
        epoch, epochs = int(event.get("epoch") or 0), int(event.get("epochs") or 1)
        batch, steps = int(event.get("batch") or 0), int(event.get("steps") or 1)
        logs = event.get("logs") or {}
        now = float(event.get("time", time.monotonic()))
        if kind == "train_begin":
            self._t0 = now
            self.epoch_bar.setRange(0, epochs)
            self.batch_bar.setRange(0, steps)
            replicas = int(event.get("replicas") or 1)
            self.append_log(f"Training: {epochs} epochs of {steps} batches"
                            + (f" on {replicas} replicas in sync" if replicas > 1 else ""))
            self.time_label.setText("Compiling the network…")
            self._noisy_reference(event)
        elif kind == "batch":
            self.epoch_bar.setValue(max(epoch - 1, 0))
            self.batch_bar.setValue(batch)
            self.curves.add_batch(epoch - 1 + batch / steps, logs.get("loss"))
        elif kind == "epoch":
            self.epoch_bar.setValue(epoch)
            self.batch_bar.setValue(steps)
            self.curves.add_epoch(epoch, logs)
            self.append_log(self.epoch_line(event))
            self._noisy_reference(event)
        if self._t0 is not None and kind in ("batch", "epoch"):
            self.time_label.setText(self._time_text(now, (epoch - 1) * steps + batch, epochs * steps))

    def _time_text(self, now: float, done: int, total: int) -> str:
        """Elapsed and remaining time; the rate is measured from the first batch on, because
        the first one also pays for compiling the network and would inflate the estimate."""
        if self._rate_origin is None:
            self._rate_origin = (now, done)
        t1, d1 = self._rate_origin
        elapsed = format_duration(now - self._t0) if self._t0 is not None else "—"
        if done <= d1 or now <= t1:
            return f"Elapsed {elapsed}\nestimating time left…"
        left = (now - t1) / (done - d1) * (total - done)
        return f"Elapsed {elapsed}\nabout {format_duration(left)} left"

    def _noisy_reference(self, event: dict) -> None:
        """The noisy input's validation scores ride on the events; an epoch event also says whether
        that epoch was just published as the best model (so the log can say so)."""
        noisy = event.get("noisy_input")
        if isinstance(noisy, dict) and (noisy.get("ssim") is not None or noisy.get("psnr") is not None):
            self.curves.set_noisy_reference(noisy.get("ssim"), noisy.get("psnr"))
        if event.get("kind") == "epoch" and event.get("published"):
            self.append_log(f"Epoch {event.get('epoch')} is the best so far: saved to {self._out}")
