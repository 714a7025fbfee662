"""The data contract shared by every dataset: a spec (cheap, validated config) and the loaded bundle."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class DataBundle:
    """A whole training set held in memory, with the metadata that methods and metrics need.

    ``x`` holds every training sample (toy: float32 ``(n, d)``; images: ``(n, C, H, W)`` in [-1, 1],
    float32 or uint8 storage). ``labels[i]`` is the mode/class of sample ``i``. ``observed_weights`` is
    the share of each mode in the training set and ``target_weights`` the balanced distribution the
    metrics compare against. ``importance_weights[i]`` = p_target(x_i) / p_observed(x_i) where that
    ratio is known (IwGAN's 1/M), else ``None``.
    """

    name: str
    kind: str  # "toy" or "image"
    x: torch.Tensor
    labels: torch.Tensor
    num_modes: int
    observed_weights: torch.Tensor
    target_weights: torch.Tensor
    minority: tuple[int, ...] = ()
    importance_weights: torch.Tensor | None = None
    centers: torch.Tensor | None = None  # (K, d) mode centres of a mixture
    covariances: torch.Tensor | None = None  # (K, d, d) mode covariances of a mixture
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.x.shape[0]

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    def to(self, device: torch.device | str) -> "DataBundle":
        """Move every tensor of the bundle to ``device``."""
        moved = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in self.__dict__.items()}
        return DataBundle(**moved)

    def as_float(self, x: torch.Tensor) -> torch.Tensor:
        """Return training samples as float32 in their model range (uint8 images are mapped to [-1, 1])."""
        if x.dtype == torch.uint8:
            return x.float().div_(127.5).sub_(1.0)
        return x


class DatasetSpec:
    """What ``instantiate(cfg.dataset)`` returns: validated parameters, no data yet.

    ``provides`` names the metadata the loaded bundle will carry (e.g. ``"mixture"``,
    ``"importance_weights"``, ``"labels"``) so that an impossible combination is refused before loading.
    """

    name: str = "dataset"
    kind: str = "toy"
    provides: frozenset[str] = frozenset()
    sample_shape: tuple[int, ...] | None = None  # shape of one sample when known before loading

    def load(self, device: torch.device | str = "cpu") -> DataBundle:  # pragma: no cover - interface
        raise NotImplementedError
