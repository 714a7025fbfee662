"""Errors that stop a run before (or instead of) long work, each with a message naming the fix."""


class ConfigError(ValueError):
    """An impossible, misspelled or inconsistent configuration; raised before anything is allocated."""


class DataError(RuntimeError):
    """A dataset that is missing, corrupt or inconsistent; the message says how to obtain or repair it."""


class DamagedFileError(DataError):
    """A file the suite wrote (a checkpoint, a cached network or statistic) that fails its checksum, cannot be
    parsed, or holds pickled objects that safe loading (``weights_only=True``) refuses to rebuild."""


class RunBusyError(RuntimeError):
    """Another live process holds the lock of the run folder: this one must not train the same run too."""


def require(condition: bool, message: str) -> None:
    """Raise :class:`ConfigError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(message)
