"""Files the suite writes: atomic writes (a temporary file in the same folder, flushed and fsynced, then renamed
over the target), standard JSON, and checksummed binary files loaded safely.

Checksummed files (checkpoints, cached networks, features and statistics) end with a footer holding the SHA-256 of
everything before it (``\\nmodebench-sha256:<64 hex>\\n``; torch's and numpy's zip readers ignore trailing bytes).
Loading checks the footer first, then unpickles with ``weights_only=True`` (tensors and plain containers only, so a
file cannot run code); files written before footers existed load unchecked. A file that fails either check raises
:class:`~core.errors.DamagedFileError`; :func:`read_cached` turns that into "recompute": the file is renamed to
``<name>.corrupt`` (kept for inspection) with a :class:`DamagedFileWarning`.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from core.errors import DamagedFileError

CHECKSUM_TAG = b"\nmodebench-sha256:"
_FOOTER_BYTES = len(CHECKSUM_TAG) + 64 + 1
_CHUNK = 1 << 22


class DamagedFileWarning(UserWarning):
    """A damaged or unsafe file was renamed aside and its content is recomputed."""


def atomic_write(path: str | Path, write: Callable[[Any], None], mode: str = "wb") -> None:
    """Call ``write(file)`` on a temporary file and rename it to ``path`` only once it is complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def finite_json(obj: Any) -> Any:
    """``obj`` with every NaN or infinite float replaced by None: what standard JSON can hold (the records say why
    a value is missing, e.g. status ``diverged``)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    return obj


def write_json(path: str | Path, obj: Any) -> None:
    """Standard JSON (no NaN/Infinity literals: those become null), written atomically."""
    atomic_write(path, lambda f: json.dump(finite_json(obj), f, indent=1, allow_nan=False), mode="w")


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` as UTF-8, byte for byte (no newline translation, whatever the locale)."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def read_json(path: str | Path) -> Any:
    """A JSON file; older files with NaN/Infinity literals still read."""
    with open(path) as handle:
        return json.load(handle)


# ------------------------------------------------------------------------------------------- checksummed files
def write_checked(path: str | Path, write: Callable[[Any], None]) -> None:
    """``write(file)`` the payload, then append the SHA-256 footer of what was written; atomic."""
    def payload_and_footer(handle) -> None:
        write(handle)
        handle.flush()
        end = handle.tell()
        handle.seek(0)
        digest = hashlib.sha256()
        for block in iter(lambda: handle.read(min(_CHUNK, end - handle.tell())), b""):
            digest.update(block)
        handle.seek(end)
        handle.write(CHECKSUM_TAG + digest.hexdigest().encode() + b"\n")

    atomic_write(path, payload_and_footer, mode="w+b")


def check_footer(path: str | Path) -> bool:
    """True when ``path`` ends with a checksum footer that matches its content, False when it has none (a file
    from before footers); raises :class:`DamagedFileError` when the checksum does not match."""
    path = Path(path)
    size = path.stat().st_size
    if size < _FOOTER_BYTES:
        return False
    with open(path, "rb") as handle:
        handle.seek(size - _FOOTER_BYTES)
        footer = handle.read()
        if not footer.startswith(CHECKSUM_TAG) or not footer.endswith(b"\n"):
            return False
        expected = footer[len(CHECKSUM_TAG):-1].decode("ascii", "replace")
        handle.seek(0)
        digest, left = hashlib.sha256(), size - _FOOTER_BYTES
        while left:
            block = handle.read(min(_CHUNK, left))
            digest.update(block)
            left -= len(block)
    if digest.hexdigest() != expected:
        raise DamagedFileError(f"{path} fails its SHA-256 checksum (its content changed after it was written)")
    return True


def save_torch(path: str | Path, obj: Any) -> None:
    """``torch.save`` with a checksum footer, atomically."""
    write_checked(path, lambda f: torch.save(obj, f))


def load_torch(path: str | Path, map_location: Any = "cpu") -> Any:
    """What :func:`save_torch` wrote: footer checked, then ``torch.load(weights_only=True)``, so that loading never
    runs code. Raises :class:`DamagedFileError` for a checksum mismatch, an unreadable file or a refused pickle."""
    check_footer(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only" in str(exc).lower():
            detail = next((line.strip() for line in str(exc).splitlines() if "GLOBAL" in line or "global" in line),
                          str(exc).splitlines()[0])
            raise DamagedFileError(f"{path} holds pickled objects other than tensors and plain data, which safe "
                                   f"loading (weights_only=True) refuses to rebuild ({detail}); it was not written "
                                   "by modebench or was tampered with") from None
        raise DamagedFileError(f"{path} is unreadable ({exc})") from None
    except Exception as exc:  # a truncated zip, a foreign format
        raise DamagedFileError(f"{path} is unreadable ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None


def save_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` with a checksum footer, atomically."""
    write_checked(path, lambda f: np.savez(f, **arrays))


def load_npz(path: str | Path) -> dict[str, np.ndarray]:
    """What :func:`save_npz` wrote (footer checked, no pickled objects); :class:`DamagedFileError` otherwise."""
    check_footer(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except Exception as exc:
        raise DamagedFileError(f"{path} is unreadable ({type(exc).__name__}: {exc})") from None


def quarantine(path: str | Path, reason: str, action: str) -> Path:
    """Rename a damaged file to ``<name>.corrupt`` (replacing an older one) and warn: ``reason``, then what happens
    instead (``action``, e.g. "training starts from step 0"). Returns the new path."""
    path = Path(path)
    aside = path.with_name(path.name + ".corrupt")
    os.replace(path, aside)
    warnings.warn(f"{reason}; moved it to {aside.name}; {action}", DamagedFileWarning, stacklevel=3)
    return aside


def read_cached(path: str | Path, load: Callable[[Path], Any], action: str) -> Any:
    """``load(path)`` when the file exists, else None. A :class:`DamagedFileError` from ``load`` (checksum, safe
    loading, or the caller's own structure checks) puts the file aside (:func:`quarantine`) and returns None, so
    that the caller recomputes it (``action`` says how, for the warning)."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        return load(path)
    except DamagedFileError as exc:
        quarantine(path, str(exc), action)
        return None


# ----------------------------------------------------------------------------------------------------- folders
def unwritable_reason(folder: str | Path) -> str | None:
    """Why ``folder`` could not be created and written to, or None when it can; found without creating it (a
    temporary sub-folder of its nearest existing ancestor is made and removed to probe, as permission bits do not
    tell for root or special file systems)."""
    path = Path(folder).expanduser().absolute()
    existing = path
    try:
        while not existing.exists():
            existing = existing.parent
    except OSError as exc:
        return f"{existing} cannot be inspected ({exc.strerror})"
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".modebench-probe-", dir=existing))
    except OSError as exc:
        return f"folders cannot be created in {existing} ({exc.strerror or exc})"
    return None
