"""Errors that stop a run before (or instead of) long work, each with a message naming the fix."""


class ConfigError(ValueError):
    """An impossible, misspelled or inconsistent configuration; raised before anything is allocated."""


class DataError(RuntimeError):
    """A dataset that is missing, corrupt or inconsistent; the message says how to obtain or repair it."""


def require(condition: bool, message: str) -> None:
    """Raise :class:`ConfigError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(message)
