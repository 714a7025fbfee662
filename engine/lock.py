"""One process per run folder: ``<run dir>/.lock``, an exclusive ``flock`` held for the whole training, with the
holder (pid, host, start time) written in it.

The kernel drops a ``flock`` when its process ends, however it ends (kill -9 included), so a lock file whose lock
is free is stale: the next run takes it over and says whose it was. ``flock`` also works across the machines of a
cluster on NFS (Linux emulates it with POSIX record locks there).
"""
from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from core.errors import RunBusyError

LOCK_FILE = ".lock"


@contextmanager
def run_lock(run_dir: str | Path) -> Iterator[None]:
    """Hold the run folder's lock for the ``with`` block; :class:`RunBusyError` (naming the holder) when another
    live process holds it. A stale lock (its process gone) is taken over with a message."""
    path = Path(run_dir) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunBusyError(f"run folder {run_dir} is in use by {_describe(_read(fd))} (its lock: {path}); "
                               "not training it a second time: wait for that process, or stop it") from None
        stale = _read(fd)
        if stale:
            print(f"[modebench] taking over the lock of {run_dir} left by {_describe(stale)}, which has stopped")
        _write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                               "started": dt.datetime.now().isoformat(timespec="seconds")}))
        try:
            yield
        finally:
            _write(fd, "")  # released cleanly: nothing stale to report next time
    finally:
        os.close(fd)  # closing the file releases the flock


def lock_holder(run_dir: str | Path) -> str | None:
    """Who holds the run folder's lock now ("pid 12 on host h since ..."), or None when nobody does."""
    path = Path(run_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return None
    except BlockingIOError:
        return _describe(_read(fd))
    finally:
        os.close(fd)


def _read(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 4096).decode("utf-8", "replace").strip()


def _write(fd: int, text: str) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, text.encode(), 0)
    os.fsync(fd)


def _describe(text: str) -> str:
    try:
        holder = json.loads(text)
        return f"pid {holder['pid']} on host {holder['host']} (since {holder['started']})"
    except (ValueError, KeyError, TypeError):
        return "another process"
