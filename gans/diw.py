"""Dual importance weight GAN (anonymous ICLR submission, "DUAL IMPORTANCE WEIGHT GAN", §3) — ``method=diwgan``.

No code exists for this paper; every choice below is a field of ``conf/method/diwgan.yaml`` and is documented
there and in docs/choices.md. The reading implemented:

1. **Autoencoder** (set-up, before training): an MLP encoder E: x -> s and decoder trained on the real data with
   the mean squared reconstruction error (``ae_steps`` Adam steps of ``ae_batch_size``), one per replica
   (initialised from the replica's seed). Latent size ``latent_dim`` (null = the data dimension, the smallest size
   that can reproduce 2-D/3-D data exactly: "the dimension of encoded space ... that properly reproduces original
   data", §4.1). E is frozen afterwards.
2. **Real density**: a Gaussian KDE (scipy's ``gaussian_kde`` definition: kernel covariance = factor² x the data
   covariance, factor by Scott's rule unless ``real_bandwidth`` is a number) of the encoded training set.
3. **Target real samples S_r**, drawn once and used for all iterations (§3: "we obtain same number of good real
   samples of batch size which reflects target distribution ... extracted once"): ``targets=kde_weighted_real``
   (default) draws ``n_targets`` (= batch size) distinct encoded training samples with probability ∝ their KDE
   density — real samples ("good": typical, high density) chosen through the KDE; ``kde_sample`` draws new points
   from the KDE; ``uniform_real`` draws training samples uniformly (an ablation without the KDE).
4. **Generator importance weight** w_g of each generated sample: the KDE density of its code under the codes of
   the previous ``history`` (N) generated batches (bandwidth ``gen_bandwidth``), normalised to mean 1 over the
   batch; all ones until a previous batch exists.
5. **Real importance weight** w_r of each target: its paired distance accumulated over all previous iterations,
   normalised to mean 1 (all ones at the first iteration) — "if a real sample has higher distances to all
   generated samples during the past training steps, the real sample gets higher real importance weight".
6. **Pairing**: the one-to-one assignment of targets to generated codes minimising the summed Euclidean distance
   (Hungarian algorithm, ``scipy.optimize.linear_sum_assignment``), recomputed every generator step.
7. **Generator loss** (eq. 3): the non-saturating loss + ``alpha`` x mean over pairs of
   D_a = w_r w_g ||s_r − s_g|| (eq. 2), the weights detached, the gradient flowing through E(G(z)).

The discriminator is trained as in vanilla GAN training.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from core.errors import require
from gans.kde import GaussianKDE
from gans.layers import ReplicatedMLP, seeded_generators
from gans.method import Batch, GANMethod

TARGET_MODES = ("kde_weighted_real", "kde_sample", "uniform_real")


# ===================================================================================== weights


def normalized_weights(log_density: torch.Tensor) -> torch.Tensor:
    """Densities normalised to mean 1 along the last dim, computed stably from log densities."""
    return torch.softmax(log_density, dim=-1) * log_density.shape[-1]


# ===================================================================================== pairing


def optimal_pairing(cost: torch.Tensor) -> torch.Tensor:
    """For each replica, the one-to-one assignment of rows to columns minimising the summed cost.

    ``cost`` (S, a, b) with a <= b -> (S, a) column of each row (Hungarian algorithm,
    ``scipy.optimize.linear_sum_assignment``, in float64 on the CPU). Non-finite costs count as very large.
    """
    require(cost.dim() == 3 and cost.shape[1] <= cost.shape[2],
            f"pairing needs a cost of shape (S, a, b) with a <= b, got {tuple(cost.shape)}")
    values = cost.detach().double().cpu().numpy()
    columns = np.empty(values.shape[:2], dtype=np.int64)
    for r, matrix in enumerate(values):
        if not np.isfinite(matrix).all():
            finite = matrix[np.isfinite(matrix)]
            big = (np.abs(finite).max() if finite.size else 1.0) * 10 + 1e6
            matrix = np.where(np.isfinite(matrix), matrix, big)
        rows, cols = linear_sum_assignment(matrix)
        columns[r, rows] = cols
    return torch.as_tensor(columns, device=cost.device)


# ===================================================================================== method


class Autoencoder(torch.nn.Module):
    """Replicated MLP autoencoder on flat samples: encode (S, B, d) -> (S, B, m), decode back."""

    def __init__(self, dim: int, latent: int, hidden, activation: str, generators):
        super().__init__()
        hidden = [int(h) for h in hidden]
        self.encoder = ReplicatedMLP([dim, *hidden, latent], generators, activation, "glorot")
        self.decoder = ReplicatedMLP([latent, *reversed(hidden), dim], generators, activation, "glorot")

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encode(x))[0]


class DIWGAN(GANMethod):
    """Dual importance weight GAN; see the module docstring for the reading of the paper."""

    def __init__(self, regularizers=None, pack: int = 1, alpha: float = 1.0, latent_dim: int | None = None,
                 ae_hidden=(128, 128), ae_activation: str = "tanh", ae_steps: int = 3000, ae_batch_size: int = 256,
                 ae_lr: float = 1e-3, history: int = 10, real_bandwidth: str | float = "scott",
                 gen_bandwidth: str | float = "scott", targets: str = "kde_weighted_real",
                 n_targets: int | None = None, progress: bool = True):
        super().__init__(regularizers, pack)
        require(math.isfinite(float(alpha)) and float(alpha) >= 0, f"method.alpha must be >= 0, got {alpha}")
        require(latent_dim is None or int(latent_dim) >= 1, f"method.latent_dim must be >= 1 or null, got {latent_dim}")
        require(int(ae_steps) >= 1 and int(ae_batch_size) >= 1 and float(ae_lr) > 0,
                "method.ae_steps, method.ae_batch_size and method.ae_lr must be positive")
        require(int(history) >= 1, f"method.history (past generated sets in the generator KDE) must be >= 1, got {history}")
        require(targets in TARGET_MODES, f"method.targets must be one of {list(TARGET_MODES)}, got {targets!r}")
        require(n_targets is None or int(n_targets) >= 2, f"method.n_targets must be >= 2 or null, got {n_targets}")
        for name, bw in (("real_bandwidth", real_bandwidth), ("gen_bandwidth", gen_bandwidth)):
            if isinstance(bw, str):
                require(bw in ("scott", "silverman"), f"method.{name} must be scott, silverman or a number, got {bw!r}")
            else:
                require(float(bw) > 0, f"method.{name} must be > 0, got {bw}")
        self.alpha = float(alpha)
        self.latent_dim = None if latent_dim is None else int(latent_dim)
        self.ae_hidden, self.ae_activation = [int(h) for h in ae_hidden], ae_activation
        self.ae_steps, self.ae_batch_size, self.ae_lr = int(ae_steps), int(ae_batch_size), float(ae_lr)
        self.history_size = int(history)
        self.real_bandwidth, self.gen_bandwidth = real_bandwidth, gen_bandwidth
        self.targets_mode = targets
        self.n_targets = None if n_targets is None else int(n_targets)
        self.progress = bool(progress)

    def check(self, trainer) -> None:
        super().check(trainer)
        n_targets = self.n_targets or trainer.batch_size
        require(n_targets <= trainer.batch_size,
                f"method.n_targets={n_targets} must be <= trainer.batch_size={trainer.batch_size} (one-to-one pairing "
                "with the generated batch)")

    def setup(self, ctx) -> None:
        require(ctx.data.kind == "toy", f"method=diwgan uses an MLP autoencoder on flat samples (toy data), but "
                                        f"the dataset '{ctx.data.name}' is '{ctx.data.kind}'")
        super().setup(ctx)
        data, replicas = ctx.data, ctx.replicas
        dim = int(np.prod(data.sample_shape))
        latent = self.latent_dim or dim
        self.autoencoder = Autoencoder(dim, latent, self.ae_hidden, self.ae_activation,
                                       seeded_generators([1_000_003 + s for s in ctx.seeds])).to(ctx.device)
        gen = torch.Generator(ctx.device).manual_seed(104_729 * (ctx.seeds[0] + 1))
        self.ae_mse = self._train_autoencoder(gen)
        for p in self.autoencoder.parameters():
            p.requires_grad_(False)
        with torch.no_grad():
            real = data.as_float(data.x).reshape(1, data.n, dim).expand(replicas, -1, -1)
            codes = torch.cat([self.autoencoder.encode(real[:, i:i + 8192]) for i in range(0, data.n, 8192)], 1)
        count = self.n_targets or ctx.batch_size
        self.targets = self._draw_targets(codes, count, gen).float()  # (S, T, m)
        self.real_distance = torch.zeros(replicas, count, dtype=torch.float64, device=ctx.device)
        self.gen_codes = torch.zeros(replicas, self.history_size * ctx.batch_size, latent, device=ctx.device)
        self.gen_added = 0
        self.last_weights: dict[str, torch.Tensor] = {}

    # ------------------------------------------------------------ autoencoder
    def _train_autoencoder(self, gen: torch.Generator) -> list[float]:
        data, replicas = self.data, self.ctx.replicas
        ae = self.autoencoder
        opt = torch.optim.Adam(ae.parameters(), lr=self.ae_lr)
        report = max(1, self.ae_steps // 5)
        recent = torch.zeros(replicas, device=self.ctx.device)
        for step in range(1, self.ae_steps + 1):
            index = torch.randint(data.n, (replicas, self.ae_batch_size), generator=gen, device=data.x.device)
            x = data.as_float(data.x[index]).reshape(replicas, self.ae_batch_size, -1)
            loss = (ae(x) - x).square().mean((1, 2))
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt.step()
            recent = loss.detach()
            if self.progress and (step % report == 0 or step == self.ae_steps):
                print(f"[diwgan] autoencoder step {step}/{self.ae_steps}: reconstruction MSE "
                      f"{', '.join(f'{v:.2e}' for v in recent.tolist())}", flush=True)
        with torch.no_grad():  # final MSE on the whole training set
            x = data.as_float(data.x).reshape(1, data.n, -1).expand(replicas, -1, -1)
            mse = (ae(x) - x).square().mean((1, 2))
            variance = x.var(1).sum(-1)
        return (mse / variance).tolist()  # relative to the data's total variance

    def _draw_targets(self, codes: torch.Tensor, count: int, gen: torch.Generator) -> torch.Tensor:
        replicas, n, m = codes.shape
        if self.targets_mode == "uniform_real":
            index = torch.stack([torch.randperm(n, generator=gen, device=codes.device)[:count] for _ in range(replicas)])
            return torch.gather(codes, 1, index[..., None].expand(-1, -1, m))
        kde = GaussianKDE(codes, self.real_bandwidth)
        if self.targets_mode == "kde_sample":
            return kde.sample(count, gen)
        weights = normalized_weights(kde.log_density(codes))  # (S, n), mean 1
        index = torch.multinomial(weights, count, replacement=False, generator=gen)
        return torch.gather(codes, 1, index[..., None].expand(-1, -1, m))

    # ---------------------------------------------------------- the G loss
    def importance_term(self, fake: torch.Tensor) -> torch.Tensor:
        """alpha x mean over the optimal pairs of w_r w_g ||s_r - s_g|| (S,), with side effects: the generator
        history and the accumulated real distances are updated."""
        replicas, batch = fake.shape[:2]
        codes = self.autoencoder.encode(fake.reshape(replicas, batch, -1))  # gradient to G
        with torch.no_grad():
            detached = codes.detach()
            count = min(self.gen_added, self.history_size) * batch
            if count >= 2:
                kde = GaussianKDE(self.gen_codes[:, :count], self.gen_bandwidth)
                w_g = normalized_weights(kde.log_density(detached))
            else:
                w_g = torch.ones(replicas, batch, dtype=torch.float64, device=codes.device)
            total = self.real_distance.sum(-1, keepdim=True)
            w_r = torch.where(total > 0, self.real_distance * self.real_distance.shape[-1] / total.clamp_min(1e-300),
                              torch.ones_like(self.real_distance))
            columns = optimal_pairing(torch.cdist(self.targets.double(), detached.double()))  # (S, T)
            slot = (self.gen_added % self.history_size) * batch
            self.gen_codes[:, slot:slot + batch] = detached
            self.gen_added += 1
        paired = torch.gather(codes, 1, columns[..., None].expand(-1, -1, codes.shape[-1]))  # (S, T, m)
        distance = (self.targets - paired).square().sum(-1).add(1e-12).sqrt()  # (S, T)
        weights = (w_r * torch.gather(w_g, 1, columns)).float()
        with torch.no_grad():
            self.real_distance += distance.detach().double()
        self.last_weights = {"w_g": w_g, "w_r": w_r}
        return self.alpha * (weights * distance).mean(-1)

    def generator_loss(self, batch: Batch) -> torch.Tensor:
        loss = super().generator_loss(batch)
        if self.alpha == 0:
            return loss
        return loss + self.importance_term(batch.fake)

    # ---------------------------------------------------------- persistence
    def state_dict(self) -> dict:
        state = super().state_dict()
        state["diw"] = {"autoencoder": self.autoencoder.state_dict(), "targets": self.targets,
                        "real_distance": self.real_distance, "gen_codes": self.gen_codes, "gen_added": self.gen_added,
                        "ae_mse": self.ae_mse}
        return state

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        extra = state["diw"]
        self.autoencoder.load_state_dict(extra["autoencoder"])
        self.targets = extra["targets"].to(self.targets.device)
        self.real_distance = extra["real_distance"].to(self.real_distance.device)
        self.gen_codes = extra["gen_codes"].to(self.gen_codes.device)
        self.gen_added = int(extra["gen_added"])
        self.ae_mse = list(extra["ae_mse"])

    def diagnostics(self) -> list[dict] | None:
        return [{"ae_relative_mse": round(float(v), 8)} for v in self.ae_mse]
