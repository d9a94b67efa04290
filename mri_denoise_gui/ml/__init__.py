"""Denoising networks: architectures, losses, data pipeline, training and inference.

Importing this package must stay cheap: TensorFlow takes seconds to import, and the GUI
imports ``mri_denoise_gui.ml`` lazily in its worker thread while the CLI's ``info`` command
must stay fast. So nothing here imports TensorFlow or Keras; the submodules that need them
(``architectures``, ``losses``, ``data``, ``train``, ``inference``) import them themselves.
"""

from mri_denoise_gui.ml.errors import Cancelled, ModelError

__all__ = ["Cancelled", "ModelError"]
