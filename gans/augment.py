"""Differentiable augmentation of the discriminator's inputs (``augment=`` config group; applied by
``GANMethod.discriminate`` to every D input in training, real and fake, in the D and the G step).

``augment=diffaugment``: DiffAugment (Zhao et al. 2020; REFERENCE §6 and §10.2), per sample, in the order of the
``policy`` string (default ``color,translation,cutout``):

- ``color``: brightness x + (u − 0.5); saturation (x − channel mean)·2u + channel mean; contrast
  (x − image mean)·(u + 0.5) + image mean (u ~ U(0, 1) per sample and op: shifts in [−0.5, 0.5], factors in
  [0, 2] and [0.5, 1.5]);
- ``translation``: a shift by integers (t_h, t_w), each uniform in [−r, r] with r = int(translation_ratio·size
  + 0.5) (1/8: ±4 pixels at 32), out[i, j] = x[i + t_h, j + t_w], zero where that falls outside the image;
- ``cutout``: a square of side c = int(cutout_ratio·size + 0.5) (half the size) zeroed, its centre uniform over
  0..size − (c mod 2) on each axis, cut at the border (a rectangle of the same ratios on non-square images).

Everything is a differentiable function of the images (gathers and masks), so G's gradient flows through it.
The random draws come from one generator per replica, seeded from the replica's seed (never the training
stream): replica r of an S-replica run is augmented exactly as a lone run with its seed, and the generators'
states are saved in checkpoints (``state_dict``).
"""
from __future__ import annotations

from typing import Sequence

import torch

from core.errors import ConfigError, require

POLICIES = ("color", "translation", "cutout")
# uniforms drawn per sample by each op (one call per replica and augmentation for all of them)
DRAWS = {"color": 3, "translation": 2, "cutout": 2}
SEED_OFFSET = 0x5EED_A06  # the augmentation stream of seed s: a generator seeded with s + SEED_OFFSET


def brightness(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """x + (u − 0.5) per sample: x (N, C, H, W), u (N,) in [0, 1)."""
    return x + (u - 0.5).view(-1, 1, 1, 1)


def saturation(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """(x − mean over channels)·2u + mean, per sample."""
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (2 * u).view(-1, 1, 1, 1) + mean


def contrast(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """(x − mean over the image)·(u + 0.5) + mean, per sample."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (u + 0.5).view(-1, 1, 1, 1) + mean


def integer_draw(u: torch.Tensor, low: int, high: int) -> torch.Tensor:
    """Integers uniform in [low, high] from uniforms u in [0, 1)."""
    return (u * (high - low + 1)).floor().long().clamp(max=high - low) + low


def translate(x: torch.Tensor, shift_h: torch.Tensor, shift_w: torch.Tensor) -> torch.Tensor:
    """out[n, :, i, j] = x[n, :, i + shift_h[n], j + shift_w[n]], zero outside the image (integer shifts)."""
    n, c, h, w = x.shape
    rows = torch.arange(h, device=x.device) + shift_h.view(-1, 1)  # (N, H)
    cols = torch.arange(w, device=x.device) + shift_w.view(-1, 1)  # (N, W)
    inside = ((rows >= 0) & (rows < h))[:, None, :, None] & ((cols >= 0) & (cols < w))[:, None, None, :]
    out = x.gather(2, rows.clamp(0, h - 1)[:, None, :, None].expand(n, c, h, w))
    out = out.gather(3, cols.clamp(0, w - 1)[:, None, None, :].expand(n, c, h, w))
    return out * inside.to(x.dtype)


def cutout(x: torch.Tensor, centre_h: torch.Tensor, centre_w: torch.Tensor, size_h: int, size_w: int) -> torch.Tensor:
    """x with the size_h x size_w rectangle starting at (centre − size // 2) zeroed (cut at the border), per sample."""
    _, _, h, w = x.shape
    top, left = (centre_h - size_h // 2).view(-1, 1), (centre_w - size_w // 2).view(-1, 1)
    rows = torch.arange(h, device=x.device)
    cols = torch.arange(w, device=x.device)
    in_rows = (rows >= top) & (rows < top + size_h)  # (N, H)
    in_cols = (cols >= left) & (cols < left + size_w)  # (N, W)
    keep = ~(in_rows[:, None, :, None] & in_cols[:, None, None, :])
    return x * keep.to(x.dtype)


class Augmentation:
    """``augment=none``: D sees its inputs as they are. The interface: ``setup(seeds, device)`` once,
    ``__call__(x (S, B, C, H, W))``, ``state_dict``/``load_state_dict`` (the random state), ``check_data``."""

    name = "none"

    def setup(self, seeds: Sequence[int], device) -> None:
        self.seeds = [int(s) for s in seeds]

    def check_data(self, kind: str, sample_shape) -> None:
        """ConfigError when this augmentation cannot act on the dataset's samples."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def describe(self) -> str:
        return self.name

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class DiffAugment(Augmentation):
    """``augment=diffaugment`` (module docstring): ``policy`` (comma-separated ops of ``POLICIES``),
    ``translation_ratio`` (1/8) and ``cutout_ratio`` (1/2) of the image size."""

    name = "diffaugment"

    def __init__(self, policy: str = "color,translation,cutout", translation_ratio: float = 0.125,
                 cutout_ratio: float = 0.5):
        ops = [p.strip() for p in str(policy).split(",") if p.strip()]
        unknown = [p for p in ops if p not in POLICIES]
        require(ops and not unknown, f"augment.policy must list ops of {list(POLICIES)} separated by commas, got "
                                     f"{policy!r}")
        require(len(set(ops)) == len(ops), f"augment.policy names an op twice: {policy!r}")
        require(0 <= translation_ratio < 1 and 0 < cutout_ratio <= 1,
                f"augment.translation_ratio must be in [0, 1) and augment.cutout_ratio in (0, 1], got "
                f"{translation_ratio}, {cutout_ratio}")
        self.ops, self.translation_ratio, self.cutout_ratio = ops, float(translation_ratio), float(cutout_ratio)
        self.generators: list[torch.Generator] = []

    def check_data(self, kind: str, sample_shape) -> None:
        if kind != "image" or sample_shape is None or len(sample_shape) != 3:
            raise ConfigError(f"augment=diffaugment transforms images (C, H, W); the dataset is {kind} data of shape "
                              f"{None if sample_shape is None else tuple(sample_shape)}: use augment=none")

    def setup(self, seeds: Sequence[int], device) -> None:
        super().setup(seeds, device)
        self.generators = [torch.Generator(device).manual_seed(s + SEED_OFFSET) for s in self.seeds]

    def describe(self) -> str:
        return f"diffaugment({','.join(self.ops)})"

    def uniforms(self, batch: int, device) -> torch.Tensor:
        """(S·B, draws) uniforms: replica r's rows from replica r's generator."""
        draws = sum(DRAWS[op] for op in self.ops)
        return torch.cat([torch.rand(batch, draws, generator=g, device=device) for g in self.generators])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        replicas, batch = x.shape[:2]
        require(replicas == len(self.generators), f"augmentation set up for {len(self.generators)} replicas, got "
                                                  f"{replicas}")
        flat = x.reshape(replicas * batch, *x.shape[2:])
        u = self.uniforms(batch, x.device).to(flat.dtype)
        column = 0
        for op in self.ops:
            v = u[:, column:column + DRAWS[op]]
            column += DRAWS[op]
            flat = self.apply(op, flat, v)
        return flat.view(x.shape)

    def apply(self, op: str, x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """One op on (N, C, H, W) with its uniforms u (N, DRAWS[op])."""
        h, w = x.shape[-2:]
        if op == "color":
            return contrast(saturation(brightness(x, u[:, 0]), u[:, 1]), u[:, 2])
        if op == "translation":
            rh, rw = int(self.translation_ratio * h + 0.5), int(self.translation_ratio * w + 0.5)
            return translate(x, integer_draw(u[:, 0], -rh, rh), integer_draw(u[:, 1], -rw, rw))
        size_h, size_w = int(self.cutout_ratio * h + 0.5), int(self.cutout_ratio * w + 0.5)
        return cutout(x, integer_draw(u[:, 0], 0, h - size_h % 2), integer_draw(u[:, 1], 0, w - size_w % 2),
                      size_h, size_w)

    def state_dict(self) -> dict:
        return {"generators": [g.get_state() for g in self.generators]}

    def load_state_dict(self, state: dict) -> None:
        require(len(state["generators"]) == len(self.generators),
                "the checkpoint's augmentation state has another replica count")
        for g, s in zip(self.generators, state["generators"]):
            g.set_state(s.cpu())
