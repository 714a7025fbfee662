"""A job as Hydra runs it (run.py's task function, in the launcher's process: this one, a joblib worker or a
submitit job): the CPU settings, the job's log file, :func:`engine.run.execute`, and what a failure does.

- Everything the job prints also goes to its log, ``<run dir>/<job name>.log`` (Hydra's job log: ``run.log``), so
  every job of a parallel sweep has its own complete output, tracebacks included.
- Ctrl-C stops the run (the trainer first finishes its step and writes a checkpoint) and the command, with one line
  and exit status 130, for a single run and a multirun alike.
- A single run (``python run.py``) that fails exits non-zero: one line for a configuration, data or busy-folder
  error, Hydra's traceback otherwise. In a multirun the job records its failure (``engine.run``: a ``failed``
  record naming the error and the log), prints it, and returns, so that the other jobs run; the multirun's end
  summary (``engine.multirun``) lists it and exits non-zero.
"""
from __future__ import annotations

import io
import sys
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from core.cpu_runtime import configure_cpu_runtime
from core.errors import ConfigError, DataError, RunBusyError
from engine.run import execute


def run_job(cfg: DictConfig) -> None:
    """Run the job Hydra composed (``cfg`` without its ``hydra`` node; the rest comes from ``HydraConfig``)."""
    # First, before any tensor work: flush-to-zero floats and a heap that keeps freed memory (core.cpu_runtime).
    # Flush-to-zero is a per-thread CPU mode, and torch's intra-op worker threads take it from this thread when
    # they are created, at the first parallel operation. Importing torch and the engine creates none
    # (tests/test_cpu_runtime.py checks it), so every worker starts with flush-to-zero from here.
    configure_cpu_runtime()
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    log = run_dir / f"{hydra_cfg.job.name}.log"
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    with tee_output(log):
        try:
            execute(cfg, dict(hydra_cfg.runtime.choices), run_dir, log=log)
        except KeyboardInterrupt as exc:
            # Ctrl-C: one line, exit status 130 (128 + SIGINT, the shell's convention), the whole multirun stops
            detail = exc.args[0] if exc.args else "before the run finished (its last checkpoint, if any, resumes)"
            print(f"modebench: interrupted (Ctrl-C) {detail}", file=sys.stderr)
            raise SystemExit(130) from None
        except (ConfigError, DataError, RunBusyError) as exc:
            kind = ("configuration error: " if isinstance(exc, ConfigError) else
                    "data error: " if isinstance(exc, DataError) else "")
            message = f"modebench: {kind}{exc}"
            print(message, file=sys.stderr)
            if not multirun:
                raise SystemExit(1) from None
        except Exception:
            if not multirun:
                raise
            traceback.print_exc()
            print(f"modebench: job {run_dir} failed; its record is in results.json, its log {log}", file=sys.stderr)


class _Tee(io.TextIOBase):
    """A text stream that writes to ``stream`` and to ``log``."""

    def __init__(self, stream, log):
        self.stream, self.log = stream, log

    def write(self, text: str) -> int:
        self.stream.write(text)
        self.log.write(text)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()
        self.log.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self.stream, "encoding", "utf-8")


@contextmanager
def tee_output(log_path: Path) -> Iterator[None]:
    """Copy what this process prints (``sys.stdout``/``sys.stderr``) into ``log_path`` (appended) for the ``with``
    block; an exception leaving the block (but Ctrl-C or an exit status, whose lines say why) is written
    there with its traceback before it propagates."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a", buffering=1, encoding="utf-8") as log:
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Tee(sys.stdout, log), _Tee(sys.stderr, log)
        try:
            yield
        except Exception:  # not Ctrl-C or an exit status: what was printed says why
            log.write(traceback.format_exc())
            raise
        finally:
            sys.stdout, sys.stderr = saved
