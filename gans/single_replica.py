"""Networks that train one replica per process, on the suite's stacked layout and built from their replica's seed:
StyleGAN2 (gans/stylegan2.py), the Rumi DCGANs (gans/rumi_nets.py) and the NEMGAN conv nets (gans/nemgan_nets.py).
The DCGANs of gans/dcgan.py and SNGAN moved to grouped replica layers in issue 17 (gans/grouped.py); these have not:
sweep seeds instead of trainer.replicas."""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from core.errors import ConfigError, require
from gans.dcgan import INITS, initialise_layers
from gans.grouped import replica_seed

__all__ = ["SingleReplica", "build_seeded"]


class SingleReplica(nn.Module):
    """A one-replica network on the stacked layout: ``_flat`` maps (1, B, ...) to (B, ...)."""

    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] != 1:
            raise ConfigError(f"{type(self).__name__} trains one replica per process (leading dim 1), got "
                              f"{x.shape[0]}; set trainer.replicas=1 and sweep seeds")
        return x.reshape(x.shape[1], *x.shape[2:])


def build_seeded(make: Callable[[], nn.Module], generators: Sequence[torch.Generator],
                 init: str | None = None) -> nn.Module:
    """``make()`` with torch's global RNG seeded from the one replica's generator (forked: the caller's stream is
    untouched), so the parameters depend on the seed only. ``init`` (``gan.init``: glorot, dcgan) then redraws the
    weights of every convolution, linear and (dcgan) batch-norm layer from a generator seeded with seed + 1; None
    keeps the layers' own initialisation (StyleGAN2's equalised N(0, 1) weights)."""
    require(init is None or init in INITS, f"gan.init must be one of {list(INITS)}, got {init!r}")
    require(len(generators) == 1, f"this GAN trains one replica per process, got {len(generators)} generators "
                                   "(set trainer.replicas=1 and sweep seeds)")
    seed = replica_seed(generators[0])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = make()
        if init is not None:
            initialise_layers(module, init, torch.Generator().manual_seed(seed + 1),
                              (nn.Conv2d, nn.ConvTranspose2d, nn.Linear), (nn.BatchNorm1d, nn.BatchNorm2d))
    return module

