"""What the latent metrics see of a trained method with a mode prior and an inverter, for one replica.

``method.latent_model(r)`` returns a :class:`LatentModel`; the engine hands it to the metrics that declare
``uses_latent_model`` (metrics/latent_*.py), so that metrics score an inverter without importing gans and gans
never import metrics.
"""
from __future__ import annotations

import torch

from core.tensors import eval_mode

__all__ = ["LatentModel"]


class LatentModel:
    """Replica ``replica`` of ``method`` (an ``InversionGAN``): its mode priors, its inverter on real samples and
    its generator conditioned on latent modes. Networks run in eval mode without gradients."""

    def __init__(self, method, replica: int, chunk: int = 2048):
        self.method, self.replica, self.chunk = method, int(replica), int(chunk)

    @property
    def device(self) -> torch.device:
        return self.method.ctx.device

    @property
    def modes(self) -> int:
        return self.method.latent.modes

    def mode_weights(self) -> torch.Tensor:
        """The replica's latent mode priors softmax(α) (M,), float64 on the CPU."""
        return self.method.latent.mode_weights()[self.replica].detach().double().cpu()

    @torch.no_grad()
    def invert(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(embedding (N, e), mode posterior (N, M)) of real samples ``x`` (N, ...) as the training set stores them
        (uint8 images allowed): the embedding is what the method clusters (NEMGAN: ẑ)."""
        method = self.method
        embeddings, posteriors = [], []
        with eval_mode(*method.inverter_modules()):
            for start in range(0, x.shape[0], self.chunk):
                part = method.data.as_float(x[start:start + self.chunk].to(method.ctx.device))
                stacked = part.unsqueeze(0).expand(method.ctx.replicas, *part.shape)
                out = method.invert(stacked)
                embeddings.append(method.embedding(out)[self.replica].cpu())
                posteriors.append(out.probabilities()[self.replica].cpu())
        return torch.cat(embeddings), torch.cat(posteriors)

    @torch.no_grad()
    def generate(self, modes: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Samples (n, ...) of the given latent modes (n,), the generator in eval mode."""
        method = self.method
        stacked = modes.to(method.ctx.device).unsqueeze(0).expand(method.ctx.replicas, -1)
        out = []
        with eval_mode(method.G):
            for start in range(0, stacked.shape[1], self.chunk):
                z = method.latent.conditional(stacked[:, start:start + self.chunk], generator)
                out.append(method.G(z)[self.replica])
        return torch.cat(out)
