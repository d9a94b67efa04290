"""Errors of the core layer, in a module of their own so every core module can raise them."""


class VolumeError(ValueError):
    """A volume could not be read or written; the message is one line for a person."""


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (its type's name when it has none), at most
    ``limit`` characters: what every one-line report shows."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__
