"""Atomic file writes: a temporary file in the same folder, flushed and fsynced, then renamed over the target."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch


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


def write_json(path: str | Path, obj: Any) -> None:
    atomic_write(path, lambda f: json.dump(obj, f, indent=1, allow_nan=True), mode="w")


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` as UTF-8, byte for byte (no newline translation, whatever the locale)."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def read_json(path: str | Path) -> Any:
    with open(path) as handle:
        return json.load(handle)


def save_torch(path: str | Path, obj: Any) -> None:
    atomic_write(path, lambda f: torch.save(obj, f))
