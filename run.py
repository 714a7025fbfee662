"""modebench entry point: compose (Hydra) -> execute (``engine.run``): build, train, evaluate, record.

    python run.py                                   # the default experiment (RLS paper, RING, rls_discr)
    python run.py dataset=grid method=rls_gauss seed=3
    python run.py -m method=vanilla,rls_gauss dataset=ring,grid seed=0 trainer.replicas=5 logger=none

A bad configuration or data set stops the run before any long work with one line and exit status 1:
``modebench: configuration error: ...`` or ``modebench: data error: ...``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from core.cpu_runtime import configure_cpu_runtime
from core.errors import ConfigError, DataError
from engine.run import execute


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    # First, before any tensor work: flush-to-zero floats and a heap that keeps freed memory (core.cpu_runtime).
    # Flush-to-zero is a per-thread CPU mode, and torch's intra-op worker threads take it from this thread when
    # they are created, at the first parallel operation. Importing torch and the engine creates none
    # (tests/test_cpu_runtime.py checks it), so every worker starts with flush-to-zero from here.
    configure_cpu_runtime()
    hydra_cfg = HydraConfig.get()
    try:
        execute(cfg, dict(hydra_cfg.runtime.choices), Path(hydra_cfg.runtime.output_dir))
    except (ConfigError, DataError) as exc:
        kind = "configuration" if isinstance(exc, ConfigError) else "data"
        sys.exit(f"modebench: {kind} error: {exc}")


if __name__ == "__main__":
    main()
