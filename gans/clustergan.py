"""ClusterGAN (Mukherjee et al., AAAI 2019) — ``method=clustergan``, a baseline of NEMGAN's Tables 1-2.

The latent is ``prior=clustergan``: z = [z_n, z_c], z_n ~ N(0, σ² I) (σ = 0.1), z_c a one-hot of K equally likely
clusters. An encoder E(x) = (ẑ_n, softmax(ℓ)) (the inverter of gans/inverters.py with a latent head of
dim z_n) inverts the generator; G and E minimise the adversarial loss plus the clustering and reconstruction terms

    beta_n · mean (z_n - ẑ_n(G(z)))²  +  beta_c · CE(z_c, ℓ(G(z)))

(their paper's eq. 3 and code: mean squared error, softmax cross-entropy; MNIST β_n = β_c = 10). Unlike NEMGAN,
only z_n is reconstructed and the cluster priors stay uniform. It takes the same ``supervision`` block as
NEMGAN-S/P (NEMGAN's Table 2 gives the baselines the same labelled samples); no ``prior_learning``. Clusters of
real data: KMeans on E(x) = [ẑ_n, softmax(ℓ)] and the argmax of softmax(ℓ).
"""
from __future__ import annotations

import torch

from core.errors import require
from gans.nemgan import NEMGAN

__all__ = ["ClusterGAN"]


class ClusterGAN(NEMGAN):
    """``beta_n`` (reconstruction of z_n) and ``beta_c`` (cluster cross-entropy), 10 each (ClusterGAN, MNIST)."""

    def __init__(self, regularizers=None, pack: int = 1, inverter=None, supervision=None, beta_n: float = 10.0,
                 beta_c: float = 10.0):
        super().__init__(regularizers, pack, inverter, supervision, None, reconstruction_weight=beta_n,
                         reconstruction_norm="l2", mode_weight=beta_c)

    def build_inverter(self, ctx) -> None:
        require(self.latent.noise_dims.numel() >= 1, "method=clustergan reconstructs z_n: the prior needs latent "
                                                     "dimensions besides the one-hot (raise gan.z_dim)")
        super().build_inverter(ctx)

    def reconstructed_dims(self):
        """z_n: the dimensions outside the one-hot."""
        return self.latent.noise_dims

    def embedding(self, out):
        return torch.cat([out.latent, out.probabilities()], dim=-1)
