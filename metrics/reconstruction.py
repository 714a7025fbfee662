"""Reconstruction error (RE) of real images under an autoencoder trained on generated images (Dia-GAN §5, App. E).

Protocol of Dia-GAN's ``train_cae.py`` (REFERENCE §2.10): a convolutional autoencoder (CAE32: encoder conv3x3
stride 2 with 64/128/256 channels, BatchNorm, ReLU, then a 256-d tanh code; the decoder mirrors it with
BatchNorm and a tanh output) is trained on ``n_train`` = 50,000 generated images for ``epochs`` = 50 (Adam,
lr 1e-3, eps 1e-7, weight decay 5e-4, MSE, batch 128). Every real training image then gets
RE = ‖x̂ − x‖₂ / √(H·W) (= /32 at 32x32, the paper's normalisation). A generator that covers the real data well
reconstructs it well; a missing minority shows as a high RE of the minority images.

Keys: ``re_<group>`` and ``re_<complement>`` (mean RE of the minority / majority images by default), ``re_all``,
and ``re_protocol`` (budgets used). The metric asks the evaluation for ``n_train`` generated images (its
``n_samples``) and runs only at the final evaluation (``final_only``): at the paper budget it is GPU work.
The fast CPU profile (``metrics=images_fast``) trains on 2,000 images for 2 epochs.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from core.errors import require
from core.tensors import to_signed_unit
from metrics.image_base import ImageMetric, check_int, check_positive
from metrics.reference import check_subgroup, subgroup_mask

__all__ = ["ConvAutoencoder", "ReconstructionError", "reconstruction_errors", "train_autoencoder"]


class ConvAutoencoder(nn.Module):
    """Dia-GAN's CAE32 for any (C, H, W): three stride-2 3x3 convolutions (64/128/256) with BatchNorm and ReLU,
    a ``code_dim`` tanh bottleneck, and the mirrored decoder (transposed convolutions, BatchNorm, tanh output)."""

    def __init__(self, shape: tuple[int, int, int], widths: tuple[int, ...] = (64, 128, 256), code_dim: int = 256):
        super().__init__()
        c, h, w = shape
        sizes = [(h, w)]
        enc: list[nn.Module] = []
        prev = c
        for width in widths:
            enc += [nn.Conv2d(prev, width, 3, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            prev = width
            sizes.append(((sizes[-1][0] + 1) // 2, (sizes[-1][1] + 1) // 2))
        self.sizes = sizes
        self.inner = (prev, *sizes[-1])
        flat = prev * sizes[-1][0] * sizes[-1][1]
        self.encoder = nn.Sequential(*enc, nn.Flatten(), nn.Linear(flat, code_dim), nn.Tanh())
        self.fc = nn.Sequential(nn.Linear(code_dim, flat), nn.BatchNorm1d(flat), nn.ReLU(inplace=True))
        outs = list(widths[::-1][1:]) + [c]
        self.deconvs = nn.ModuleList(nn.ConvTranspose2d(i, o, 3, stride=2, padding=1)
                                     for i, o in zip(widths[::-1], outs))
        self.norms = nn.ModuleList([nn.BatchNorm2d(o) for o in outs[:-1]])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(self.encoder(x)).view(x.shape[0], *self.inner)
        targets = self.sizes[::-1][1:]
        for i, deconv in enumerate(self.deconvs):
            y = deconv(y, output_size=targets[i])
            y = torch.relu(self.norms[i](y)) if i < len(self.norms) else torch.tanh(y)
        return y


def train_autoencoder(images: torch.Tensor, epochs: int, batch_size: int = 128, lr: float = 1e-3, eps: float = 1e-7,
                      weight_decay: float = 5e-4, seed: int = 0) -> ConvAutoencoder:
    """Train a :class:`ConvAutoencoder` on ``images`` (n, C, H, W) in [-1, 1] with MSE (Dia-GAN's settings)."""
    device = images.device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        cae = ConvAutoencoder(tuple(images.shape[1:])).to(device)
    opt = torch.optim.Adam(cae.parameters(), lr=lr, eps=eps, weight_decay=weight_decay)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    n = images.shape[0]
    cae.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen).to(device)
        for s in range(0, n, batch_size):
            batch = images[order[s:s + batch_size]]
            if batch.shape[0] < 2:  # BatchNorm needs two images (Dia-GAN's loader keeps partial batches)
                continue
            loss = torch.nn.functional.mse_loss(cae(batch), batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return cae.eval()


@torch.no_grad()
def reconstruction_errors(cae: nn.Module, images: torch.Tensor, batch_size: int = 500) -> np.ndarray:
    """Per-image RE = ‖cae(x) − x‖₂ / √(H·W) for ``images`` (uint8 or [-1, 1] floats)."""
    device = next(cae.parameters()).device
    h, w = images.shape[-2:]
    out = []
    for s in range(0, images.shape[0], batch_size):
        x = images[s:s + batch_size].to(device)
        x = to_signed_unit(x).float()
        out.append((cae(x) - x).flatten(1).norm(dim=1).div(math.sqrt(h * w)).double().cpu())
    return torch.cat(out).numpy() if out else np.zeros(0)


class ReconstructionError(ImageMetric):
    """``ReconstructionError(subgroup="minority", n_train=50000, epochs=50)(fake, data, cache)`` (no features:
    ``cache`` is not used).

    ``max_real``: score a random subset of that many real images (null: all, as Dia-GAN); ``seed`` fixes the
    CAE's initialisation, the batch order and that subset.
    """

    label = "reconstruction error"
    space = None  # trains its own autoencoder on the generated images

    def __init__(self, subgroup: Any = "minority", n_train: int = 50000, epochs: int = 50, batch_size: int = 128,
                 lr: float = 1e-3, eps: float = 1e-7, weight_decay: float = 5e-4, max_real: int | None = None,
                 final_only: bool = True, seed: int = 0) -> None:
        self.subgroup = check_subgroup(subgroup)
        self.n_train = check_int(n_train, "reconstruction.n_train", 2)
        self.epochs = check_int(epochs, "reconstruction.epochs", 1)
        self.batch_size = check_int(batch_size, "reconstruction.batch_size", 2)
        self.lr = check_positive(lr, "reconstruction.lr")
        self.eps = check_positive(eps, "reconstruction.eps")
        self.weight_decay = check_positive(weight_decay, "reconstruction.weight_decay", allow_zero=True)
        self.max_real = check_int(max_real, "reconstruction.max_real", 1, optional=True)
        require(isinstance(final_only, bool), f"metrics: reconstruction.final_only must be true or false, got {final_only!r}")
        self.final_only = final_only
        self.seed = check_int(seed, "reconstruction.seed", 0)

    @property
    def n_samples(self) -> int:
        """Generated images this metric needs (the evaluation draws max(metrics.n_samples, this))."""
        return self.n_train

    def __repr__(self) -> str:
        return f"ReconstructionError(subgroup={self.subgroup!r}, n_train={self.n_train}, epochs={self.epochs})"

    def score(self, fake, finite, data, space, cache) -> dict[str, Any]:
        train = fake[: self.n_train]
        train = train[torch.as_tensor(finite[: self.n_train], device=train.device)]
        protocol = (f"CAE on {train.shape[0]} generated images, {self.epochs} epochs, batch {self.batch_size}, "
                    f"lr {self.lr:g}")
        if train.shape[0] < 2:
            return {"re_all": float("nan"), "re_protocol": protocol}
        with torch.enable_grad():
            cae = train_autoencoder(train.float(), self.epochs, self.batch_size, self.lr, self.eps,
                                    self.weight_decay, self.seed)
        idx = np.arange(data.n)
        if self.max_real is not None and data.n > self.max_real:
            idx = np.sort(np.random.default_rng(self.seed).choice(data.n, self.max_real, replace=False))
        errors = reconstruction_errors(cae, data.x[torch.as_tensor(idx, device=data.x.device)])
        out: dict[str, Any] = {"re_all": float(errors.mean())}
        if self.subgroup in ("minority", "majority") and not data.minority:
            out["re_note"] = f"no subgroup RE: dataset '{data.name}' has no minority classes"
        else:
            mask, name, other = subgroup_mask(data, self.subgroup)
            for label, m in ((name, mask[idx]), (other, ~mask[idx])):
                out[f"re_{label}"] = float(errors[m].mean()) if m.any() else float("nan")
        out["re_protocol"] = protocol
        return out
