"""Errors of the core layer, in a module of their own so every core module can raise them."""


class VolumeError(ValueError):
    """A volume could not be read or written; the message is one line for a person."""
