"""The QThread that every TensorFlow-owning worker (inference, training) runs in."""

from __future__ import annotations

from PyQt6.QtCore import QThread


class PythonThread(QThread):
    """A QThread whose event loop runs inside a Python `run()`.

    Why: with a bare QThread, PyQt gives each slot call a fresh Python thread state, so
    `threading.local` data dies between calls; TensorFlow's eager context and Keras's global
    state are thread-locals, and a model built in a later slot than the import segfaults.
    Running `exec()` from Python keeps one thread state for the thread's whole life.
    """

    def run(self) -> None:
        self.exec()
