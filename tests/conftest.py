"""Shared test helpers: small bundles and config composition."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


@pytest.fixture(autouse=True)
def _deterministic_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture
def one_thread():
    """torch on one thread for the test (restored after): small convolutions on a shared CPU run faster on one
    thread than split across busy cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def compose(overrides: list[str]):
    """Compose conf/config.yaml with overrides, including the hydra node (for runtime choices)."""
    from hydra import compose as hydra_compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return hydra_compose("config", overrides=overrides, return_hydra_config=True)


def compose_run(overrides: list[str]):
    """(cfg without the hydra node, runtime choices): what run.main hands to run.execute."""
    from omegaconf import open_dict

    cfg = compose(overrides)
    choices = dict(cfg.hydra.runtime.choices)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg, choices


QUICK = ["trainer=quick", "logger=none", "plots.enabled=false", "trainer.progress=false", "metrics.n_samples=2000"]


def build_method(overrides: list[str], replicas: int = 2):
    """A method set up on CPU from QUICK + overrides, as run.py builds it: (method, data)."""
    from engine import build as run

    cfg, _ = compose_run(QUICK + overrides)
    return run.build_method(cfg, replicas)


def interrupt_after(step: int):
    """An ``on_step_end`` hook that sends this process a SIGINT (a Ctrl-C) at the end of ``step``."""
    def hook(self, current: int) -> None:
        if current == step:
            os.kill(os.getpid(), signal.SIGINT)
    return hook


def poison_replica_at(step: int, replica: int = 1):
    """An ``on_step_end`` hook that fills a first-layer weight row of generator replica ``replica`` with NaN at the
    end of ``step`` (that replica diverges)."""
    def hook(self, current: int) -> None:
        if current == step:
            with torch.no_grad():
                self.G.net.layers[0].weight[replica].fill_(float("nan"))
    return hook
