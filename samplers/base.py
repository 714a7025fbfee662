"""How real mini-batches are drawn: every sampler returns training-set indices of shape (S, B)."""
from __future__ import annotations

import torch

from datasets.base import DataBundle
from core.errors import require


def safe_probabilities(scores: torch.Tensor) -> torch.Tensor:
    """Normalise non-negative scores along the last dim; rows with no finite positive mass become uniform.

    A diverged replica (NaN features) must not stop the others, so NaN/inf/negative scores count as 0.
    """
    scores = torch.nan_to_num(scores.double(), nan=0.0, posinf=0.0, neginf=0.0).clamp_min(0.0)
    total = scores.sum(-1, keepdim=True)
    uniform = torch.full_like(scores, 1.0 / scores.shape[-1])
    return torch.where(total > 0, scores / total.clamp_min(1e-300), uniform)


class Sampler:
    """Interface. ``setup`` once before training; ``sample`` every discriminator step."""

    name = "sampler"
    requires: frozenset[str] = frozenset()  # dataset metadata the sampler needs

    def setup(self, data: DataBundle, replicas: int, batch_size: int, generator: torch.Generator) -> None:
        self.data, self.replicas, self.batch_size, self.generator = data, replicas, batch_size, generator

    def sample(self, method) -> torch.Tensor:
        raise NotImplementedError

    def probabilities(self, method) -> torch.Tensor | None:
        """The current sampling distribution over the training set, (S, n), for plots; None if uniform."""
        return None

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class EpochPermutation:
    """Per-replica random permutations of 0..n-1 consumed in consecutive chunks (sampling without
    replacement within an epoch, like a shuffled data loader); a new permutation when one runs out."""

    def __init__(self, n: int, replicas: int, generator: torch.Generator, device):
        self.n, self.replicas, self.generator, self.device = n, replicas, generator, device
        self.perm = self._draw()
        self.position = 0

    def _draw(self) -> torch.Tensor:
        # one randperm per replica: ~15x faster than argsort of uniform keys for n = 10,000
        return torch.stack([torch.randperm(self.n, generator=self.generator, device=self.device)
                            for _ in range(self.replicas)])

    def take(self, size: int, cycle: bool = False) -> torch.Tensor:
        """The next ``size`` indices per replica, (S, size). A request larger than the set is an error, unless
        ``cycle``: then the set is repeated (fresh permutations back to back, as a repeated and shuffled dataset),
        so every sample appears at least ``size // n`` times in the batch."""
        if size > self.n:
            require(cycle, f"cannot draw {size} distinct samples from a training set of {self.n}")
            repeats = -(-size // self.n)
            self.position = self.n  # the partial epoch in use is dropped, as for an ordinary new epoch
            return torch.cat([self._draw() for _ in range(repeats)], dim=1)[:, :size]
        if self.position + size > self.n:
            self.perm, self.position = self._draw(), 0
        chunk = self.perm[:, self.position:self.position + size]
        self.position += size
        return chunk

    def state_dict(self) -> dict:
        return {"perm": self.perm, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.perm, self.position = state["perm"].to(self.device), int(state["position"])


class UniformSampler(Sampler):
    """Uniform real batches. ``shuffle=True``: epochs of a random permutation (the BuresGAN/RLS code's
    default loader and torch's shuffled DataLoader; a set smaller than the batch is repeated, as a repeated and
    shuffled dataset); ``False``: i.i.d. draws with replacement."""

    name = "uniform"

    def __init__(self, shuffle: bool = True):
        self.shuffle = bool(shuffle)

    def setup(self, data, replicas, batch_size, generator):
        super().setup(data, replicas, batch_size, generator)
        self.epochs = EpochPermutation(data.n, replicas, generator, data.x.device) if self.shuffle else None

    def sample(self, method=None) -> torch.Tensor:
        if self.epochs is not None:  # a set smaller than the batch is repeated within the batch
            return self.epochs.take(self.batch_size, cycle=True)
        return torch.randint(self.data.n, (self.replicas, self.batch_size), generator=self.generator,
                             device=self.data.x.device)

    def state_dict(self):
        return self.epochs.state_dict() if self.epochs is not None else {}

    def load_state_dict(self, state):
        if self.epochs is not None and state:
            self.epochs.load_state_dict(state)


class WeightedSampler(Sampler):
    """Draws i.i.d. with replacement from fixed probabilities p (n,) or (S, n): the weighted empirical
    distribution of RLS eq. (2). Subclasses compute the probabilities in ``compute_probabilities``."""

    def setup(self, data, replicas, batch_size, generator):
        super().setup(data, replicas, batch_size, generator)
        self.set_probabilities(self.compute_probabilities(data))

    def compute_probabilities(self, data: DataBundle) -> torch.Tensor:
        raise NotImplementedError

    def set_probabilities(self, probabilities: torch.Tensor) -> None:
        probs = safe_probabilities(probabilities.to(self.data.x.device))
        self.probs = probs.expand(self.replicas, -1) if probs.dim() == 1 else probs
        cdf = self.probs.cumsum(-1)
        self.cdf = (cdf / cdf[:, -1:]).contiguous()

    def sample(self, method=None) -> torch.Tensor:
        u = torch.rand(self.replicas, self.batch_size, generator=self.generator, device=self.cdf.device,
                       dtype=self.cdf.dtype)
        return torch.searchsorted(self.cdf, u).clamp_max_(self.data.n - 1)

    def probabilities(self, method=None) -> torch.Tensor:
        return self.probs

    def state_dict(self):
        return {"probs": self.probs}

    def load_state_dict(self, state):
        if "probs" in state:
            self.set_probabilities(state["probs"])
