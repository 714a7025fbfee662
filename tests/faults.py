"""Faults on request for the launcher tests, importable by the jobs run.py starts (PYTHONPATH=tests): a GAN method
(``method._target_=faults.FaultyMethod``) that, at step ``fault_step``, raises when its run folder holds a file
``explode`` and waits while it holds a file ``hold`` (having created ``waiting``, so that a test knows it is there).
Other folders train as the plain method."""
from __future__ import annotations

import time
from pathlib import Path

from hydra.core.hydra_config import HydraConfig

from gans.method import GANMethod


class FaultyMethod(GANMethod):
    def __init__(self, regularizers=None, pack: int = 1, fault_step: int = 10):
        super().__init__(regularizers=regularizers, pack=pack)
        self.fault_step = int(fault_step)

    def on_step_end(self, step: int) -> None:
        super().on_step_end(step)
        if step != self.fault_step or not HydraConfig.initialized():
            return
        folder = Path(HydraConfig.get().runtime.output_dir)
        if (folder / "explode").exists():
            raise RuntimeError(f"injected failure at step {step}")
        if (folder / "hold").exists():
            (folder / "waiting").touch()
        while (folder / "hold").exists():
            time.sleep(0.05)
