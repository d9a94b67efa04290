"""mri-denoise-gui: add realistic noise to MRI volumes, denoise them with a CNN, compare."""

__version__ = "0.1.0"
