"""Errors raised by the ml layer. Kept free of TensorFlow so callers can catch them cheaply."""


class ModelError(Exception):
    """A model folder cannot be used: missing, corrupt, mismatched or unsafe. One-line reason."""


class Cancelled(Exception):
    """A long job (volume denoising) was cancelled through its threading.Event."""
