"""Single-replica image networks built from a replica's seed: the Rumi DCGANs (gans/rumi_nets.py) train one replica
per process (the DCGANs of gans/dcgan.py moved to grouped replica layers in issue 17; these have not)."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from core.errors import ConfigError, require
from gans.dcgan import INITS

__all__ = ["Stacked", "build_seeded"]


def _seed_from(generators: Sequence[torch.Generator]) -> int:
    require(len(generators) == 1, f"image GANs train one replica per process, got {len(generators)} generators "
                                   "(set trainer.replicas=1 and sweep seeds)")
    return int(torch.randint(0, 2 ** 62, (1,), generator=generators[0]))


def build_seeded(module_fn, generators, init: str) -> nn.Module:
    """Build a module with its parameters drawn from the replica's seed (whatever the global RNG state)."""
    require(init in INITS, f"gan.init must be one of {list(INITS)}, got {init!r}")
    seed = _seed_from(generators)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = module_fn()
        gen = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for m in module.modules():
                if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                    if init == "glorot":
                        nn.init.xavier_uniform_(m.weight, generator=gen)
                        if m.bias is not None:
                            m.bias.zero_()
                    elif init == "dcgan":
                        m.weight.normal_(0.0, 0.02, generator=gen)
                        if m.bias is not None:
                            m.bias.zero_()
                elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) and init == "dcgan":
                    m.weight.normal_(1.0, 0.02, generator=gen)
                    m.bias.zero_()
    return module


class Stacked(nn.Module):
    """Flattens the replica dim: (1, B, ...) -> (B, ...) -> net -> (1, B, ...)."""

    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] != 1:
            raise ConfigError(f"image GANs train one replica (leading dim 1), got {x.shape[0]}")
        return x.reshape(x.shape[1], *x.shape[2:])

