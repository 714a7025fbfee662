"""Image tensor transforms shared by the datasets and the evaluators: resizing and channel conversion of uint8
images."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from core.errors import ConfigError


def resize_images(x: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (n, C, H, W) -> uint8 (n, C, size, size): bilinear, antialiased when shrinking, rounded."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    out = []
    for start in range(0, x.shape[0], 4096):
        chunk = x[start:start + 4096].float()
        chunk = F.interpolate(chunk, size=(size, size), mode="bilinear", align_corners=False,
                              antialias=size < x.shape[-1])
        out.append(chunk.round_().clamp_(0, 255).to(torch.uint8))
    return torch.cat(out) if out else x.new_zeros((0, x.shape[1], size, size))


def convert_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """uint8 (n, C, H, W) -> ``channels``: grey -> RGB repeats the channel; RGB -> grey uses ITU-R 601 luma."""
    c = x.shape[1]
    if c == channels:
        return x
    if c == 1:
        return x.expand(-1, channels, -1, -1).contiguous()
    if channels == 1 and c == 3:
        luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (x.float() * luma).sum(1, keepdim=True).round_().clamp_(0, 255).to(torch.uint8)
    raise ConfigError(f"cannot convert {c}-channel images to {channels} channels")
