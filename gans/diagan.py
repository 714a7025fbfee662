"""Self-Diagnosing GAN (Dia-GAN, Lee et al. NeurIPS 2021) as coded in its repository (``method=diagan``).

Generic over GANs (it uses only the method/loss/sampler contracts, so the image experiments reuse it unchanged);
its baselines live in ``gans.drs`` (DRS), ``gans.gold`` and ``gans.topk``, its figures in ``gans.diagan_plots``.

``DiaGAN`` (with ``loss=hinge`` Dia-HingeGAN): phase 1 trains with the configured sampler and records the LDR
(``loss.ldr``: the logit for NS, the raw output for hinge) of every training sample every ``record_every`` steps,
in eval mode, without gradients, in chunks, into an :class:`LDRStore` that keeps only the ``window`` newest
snapshots; at the phase boundary the scores s = LDRM + k·sqrt(LDRV) (eq. 7, ddof=1, floored at ``min_score`` and
capped at ``max_ratio`` x the minimum) become the sampling probabilities of a
:class:`~samplers.discrepancy.DiscrepancySampler` swapped in for phase 2, and an auxiliary discriminator — a copy
of the phase-1 D and of its optimiser state, trained with the NS loss on batches of the *original* sampler after
every main-D step — estimates the unweighted density ratio for DRS (phase 3, ``generate``).

Step counting: ``t`` = completed steps (mimicry's ``global_step`` after its increment). Snapshots are taken at
``t % record_every == 0``; the scores use the snapshots with ``p1 - window·record_every <= t < p1`` (the code's
``calculate_scores(start=p1-5000, end=p1)``: 50 snapshots for the default 100 x 50), where
``p1 = round(phase1_fraction x trainer.steps)``; phase 2 is the steps with index >= p1.
"""
from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import torch

from core.errors import ConfigError, require
from core.tensors import eval_mode
from gans import diagan_plots
from gans.drs import DRSMethod
from gans.losses import NonSaturating
from samplers.discrepancy import DiscrepancySampler

STORE_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
                "float64": torch.float64}


# ===================================================================================== scores


def ldr_statistics(snapshots: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """LDRM and LDRV (eq. 2) over the first dimension of ``snapshots`` (T, ...): mean and variance with ddof=1,
    in float64."""
    require(snapshots.shape[0] >= 2, f"LDRV needs at least 2 snapshots, got {snapshots.shape[0]}")
    values = snapshots.double()
    return values.mean(0), values.var(0, unbiased=True)


def discrepancy_score(ldrm: torch.Tensor, ldrv: torch.Tensor, k: float, min_score: float = 0.01,
                      max_ratio: float = 50.0) -> torch.Tensor:
    """s = LDRM + k·sqrt(LDRV) (eq. 7), floored at ``min_score``, then capped at ``max_ratio`` x the minimum of the
    floored scores, along the last dimension (the Dia-GAN code: ``clip_max_ratio(clip_min(m + k·std), 50)``)."""
    score = ldrm.double() + float(k) * ldrv.double().clamp_min(0.0).sqrt()
    score = score.clamp_min(float(min_score))
    cap = float(max_ratio) * score.min(dim=-1, keepdim=True).values
    return torch.minimum(score, cap)


def score_probabilities(score: torch.Tensor) -> torch.Tensor:
    """P_s(i) = s'(x_i) / Σ_j s'(x_j) along the last dimension."""
    score = score.double()
    return score / score.sum(dim=-1, keepdim=True)


class LDRStore:
    """The newest ``capacity`` LDR snapshots of the whole training set, (capacity, S, n), as a ring buffer.

    Column i is training sample i (the recorder evaluates ``data.x`` in order), so the order of the samples is the
    order of the dataset whatever the sampler does. Memory is ``capacity x S x n`` values of ``dtype`` on
    ``device`` (50 x 1 x 162,770 CelebA images in float32: 33 MB); only the window's snapshots are ever kept.
    """

    def __init__(self, capacity: int, replicas: int, n: int, dtype: torch.dtype = torch.float32,
                 device: torch.device | str = "cpu"):
        require(capacity >= 2, f"the LDR window must hold at least 2 snapshots, got {capacity}")
        self.capacity, self.replicas, self.n = int(capacity), int(replicas), int(n)
        self.values = torch.zeros(self.capacity, self.replicas, self.n, dtype=dtype, device=device)
        self.steps: list[int | None] = [None] * self.capacity
        self.added = 0

    @property
    def nbytes(self) -> int:
        return self.values.numel() * self.values.element_size()

    def __len__(self) -> int:
        return min(self.added, self.capacity)

    def add(self, step: int, ldr: torch.Tensor) -> None:
        """Store the LDRs ``ldr`` (S, n) of snapshot ``step`` (overwriting the oldest when full)."""
        require(tuple(ldr.shape) == (self.replicas, self.n),
                f"an LDR snapshot must have shape {(self.replicas, self.n)}, got {tuple(ldr.shape)}")
        slot = self.added % self.capacity
        self.values[slot].copy_(ldr.detach().to(self.values.device, self.values.dtype))
        self.steps[slot] = int(step)
        self.added += 1

    def _chronological(self) -> list[int]:
        count = len(self)
        first = self.added - count
        return [(first + i) % self.capacity for i in range(count)]

    def window(self, start: int | None = None, end: int | None = None) -> tuple[list[int], torch.Tensor]:
        """(steps, snapshots (T, S, n) in float32) of the stored snapshots with start <= step < end, oldest first."""
        slots = [s for s in self._chronological()
                 if (start is None or self.steps[s] >= start) and (end is None or self.steps[s] < end)]
        if not slots:
            return [], self.values.new_zeros((0, self.replicas, self.n), dtype=torch.float32)
        index = torch.as_tensor(slots, device=self.values.device)
        return [self.steps[s] for s in slots], self.values.index_select(0, index).float()

    def state_dict(self) -> dict:
        return {"values": self.values, "steps": list(self.steps), "added": self.added}

    def load_state_dict(self, state: dict) -> None:
        require(tuple(state["values"].shape) == tuple(self.values.shape),
                f"the checkpoint's LDR store has shape {tuple(state['values'].shape)}, this run needs "
                f"{tuple(self.values.shape)}")
        self.values.copy_(state["values"].to(self.values.device, self.values.dtype))
        self.steps = list(state["steps"])
        self.added = int(state["added"])


def group_means(values: torch.Tensor, labels: torch.Tensor, groups: int) -> torch.Tensor:
    """Mean of ``values`` (S, n) over the samples of each label: (S, groups), NaN for an empty group."""
    labels = labels.to(values.device).long()
    sums = torch.zeros(values.shape[0], groups, dtype=torch.float64, device=values.device)
    sums.index_add_(1, labels, values.double())
    counts = torch.bincount(labels, minlength=groups).double()
    return sums / counts.where(counts > 0, torch.full_like(counts, math.nan))


# ===================================================================================== methods


class DiaGAN(DRSMethod):
    """Self-Diagnosing GAN; see the module docstring. Fields (defaults = the paper/code):

    ``k`` (0.3, CIFAR-10) the weight of sqrt(LDRV); ``phase1_fraction`` (0.8) the share of steps in phase 1 (1.0:
    diagnose only, no phase 2); ``record_every`` (100) and ``window`` (50) snapshots; ``min_score`` (0.01) and
    ``max_ratio`` (50) the clipping; ``record_chunk`` samples per forward pass while recording; ``store_dtype``
    (float32; float16 halves the store) and ``store_device`` (cpu) of the LDR store; ``diagnostics`` records from
    the first step to the end (not just the window) and keeps per-mode LDRM/LDRV over training and the per-mode
    high-quality counts at the boundary (``diagnostics_std_threshold`` = 4, the Dia-GAN toy rule) for the plots;
    ``drs_discriminator``: ``auxiliary`` (the code) or ``main``.
    """

    def __init__(self, regularizers=None, pack: int = 1, drs=None, k: float = 0.3, phase1_fraction: float = 0.8,
                 record_every: int = 100, window: int = 50, min_score: float = 0.01, max_ratio: float = 50.0,
                 record_chunk: int = 4096, store_dtype: str = "float32", store_device: str = "cpu",
                 diagnostics: bool = False, diagnostics_std_threshold: float = 4.0,
                 drs_discriminator: str = "auxiliary"):
        super().__init__(regularizers, pack, drs)
        require(self.pack == 1, "Dia-GAN records the LDR of single training samples: method.pack must be 1")
        require(math.isfinite(float(k)) and float(k) >= 0, f"method.k must be a number >= 0, got {k}")
        require(0.0 < float(phase1_fraction) <= 1.0, f"method.phase1_fraction must be in (0, 1], got {phase1_fraction}")
        require(int(record_every) >= 1, f"method.record_every must be >= 1, got {record_every}")
        require(int(window) >= 2, f"method.window must be >= 2 snapshots (LDRV has ddof=1), got {window}")
        require(float(min_score) > 0, f"method.min_score must be > 0, got {min_score}")
        require(float(max_ratio) >= 1, f"method.max_ratio must be >= 1, got {max_ratio}")
        require(int(record_chunk) >= 1, f"method.record_chunk must be >= 1, got {record_chunk}")
        require(store_dtype in STORE_DTYPES, f"method.store_dtype must be one of {sorted(STORE_DTYPES)}, got {store_dtype!r}")
        require(drs_discriminator in ("auxiliary", "main"),
                f"method.drs_discriminator must be 'auxiliary' or 'main', got {drs_discriminator!r}")
        self.k, self.phase1_fraction = float(k), float(phase1_fraction)
        self.record_every, self.window = int(record_every), int(window)
        self.min_score, self.max_ratio = float(min_score), float(max_ratio)
        self.record_chunk = int(record_chunk)
        self.store_dtype, self.store_device = store_dtype, store_device
        self.record_all = bool(diagnostics)
        self.diagnostics_std_threshold = float(diagnostics_std_threshold)
        self.drs_discriminator_name = drs_discriminator

    # ------------------------------------------------------------------ set-up
    def phase_boundary(self, steps: int) -> int:
        return int(round(self.phase1_fraction * steps))

    def check(self, trainer) -> None:
        super().check(trainer)
        p1 = self.phase_boundary(trainer.steps)
        require(p1 >= 1, f"method.phase1_fraction={self.phase1_fraction} leaves no phase-1 step of "
                         f"trainer.steps={trainer.steps}")
        start = max(1, p1 - self.window * self.record_every)
        snapshots = len([t for t in range(start, p1) if t % self.record_every == 0])
        if snapshots < 2:
            raise ConfigError(
                f"Dia-GAN needs at least 2 LDR snapshots before the phase boundary (step {p1} = "
                f"method.phase1_fraction={self.phase1_fraction} x trainer.steps={trainer.steps}), but "
                f"method.record_every={self.record_every} gives {snapshots}; lower method.record_every or "
                "raise trainer.steps")

    def setup(self, ctx) -> None:
        super().setup(ctx)
        self.total_steps = self.planned_steps(ctx.steps)
        self.p1 = self.phase_boundary(ctx.steps)
        self.base_sampler = self.sampler
        self.score_sampler = DiscrepancySampler()
        self.score_sampler.setup(ctx.data, ctx.replicas, ctx.batch_size, ctx.generator)
        self.store = LDRStore(self.window, ctx.replicas, ctx.data.n, STORE_DTYPES[self.store_dtype],
                              self.store_device)
        if self.store.nbytes > 2**30:
            print(f"[diagan] the LDR store holds {self.store.nbytes / 2**30:.1f} GiB "
                  f"({self.window} snapshots x {ctx.replicas} replicas x {ctx.data.n} samples, {self.store_dtype}); "
                  "method.store_dtype=float16 halves it")
        labels = ctx.data.labels
        self.groups = max(int(ctx.data.num_modes), int(labels.max()) + 1 if labels.numel() else 0)
        self.aux_D = self.aux_opt = None
        self.aux_loss = NonSaturating()  # the Dia-GAN code trains netD_drs with the 'ns' loss
        self.phase = 1
        self.boundary: dict[str, Any] | None = None  # scores and their statistics at the phase boundary
        self.history: list[dict[str, Any]] = []  # per-mode LDRM/LDRV over training (diagnostics)

    # ----------------------------------------------------------- recording
    @torch.no_grad()
    def record_ldr(self) -> torch.Tensor:
        """LDR of every training sample for every replica, (S, n) float32, D in eval mode, in dataset order."""
        data, replicas = self.data, self.ctx.replicas
        out = torch.empty(replicas, data.n, dtype=torch.float32, device=data.x.device)
        with eval_mode(self.D):
            for start in range(0, data.n, self.record_chunk):
                x = data.as_float(data.x[start:start + self.record_chunk])
                x = x.unsqueeze(0).expand(replicas, *x.shape)
                logits, _ = self.discriminate(x)
                out[:, start:start + x.shape[1]] = self.loss.ldr(logits).float()
        return out

    def should_record(self, t: int) -> bool:
        if t % self.record_every:
            return False
        return self.record_all or self.p1 - self.window * self.record_every <= t < self.p1

    def on_step_end(self, step: int) -> None:
        t = step + 1
        if t == self.p1:
            self.diagnose(t)
            if self.p1 < self.total_steps:
                self.enter_phase2()
        if self.should_record(t):
            self.store.add(t, self.record_ldr())
            if self.record_all:
                self._track(t)

    def _track(self, t: int) -> None:
        steps, snapshots = self.store.window()
        if len(steps) < 2:
            return
        ldrm, ldrv = ldr_statistics(snapshots)
        labels = self.data.labels
        self.history.append({"step": t, "snapshots": len(steps),
                             "ldrm": group_means(ldrm, labels, self.groups).float().cpu(),
                             "ldrv": group_means(ldrv, labels, self.groups).float().cpu()})

    def window_scores(self, end: int) -> tuple[list[int], torch.Tensor, torch.Tensor, torch.Tensor]:
        """(snapshot steps, LDRM, LDRV, score) from the snapshots in [end - window·record_every, end)."""
        steps, snapshots = self.store.window(end - self.window * self.record_every, end)
        ldrm, ldrv = ldr_statistics(snapshots)
        score = discrepancy_score(ldrm, ldrv, self.k, self.min_score, self.max_ratio)
        return steps, ldrm, ldrv, score

    def diagnose(self, t: int) -> None:
        """Scores at the phase boundary and their per-mode summaries (kept for the record and the plots)."""
        steps, ldrm, ldrv, score = self.window_scores(t)
        labels = self.data.labels
        self.boundary = {
            "step": t, "snapshot_steps": steps,
            "ldrm": ldrm.float().cpu(), "ldrv": ldrv.float().cpu(), "score": score.float().cpu(),
            "ldrm_per_mode": group_means(ldrm, labels, self.groups).cpu(),
            "ldrv_per_mode": group_means(ldrv, labels, self.groups).cpu(),
            "score_per_mode": group_means(score, labels, self.groups).cpu(),
            "hq_counts": self._hq_counts(t) if self.record_all else None,
        }

    @torch.no_grad()
    def _hq_counts(self, t: int) -> list[list[int]] | None:
        """High-quality generated samples per mode right now (10k per replica; an RNG of its own), counted by the
        run's ``count_modes`` (None without one: data that is no mixture)."""
        count_modes = self.ctx.count_modes
        if count_modes is None:
            return None
        gen = torch.Generator(self.ctx.device).manual_seed(7_919 * (self.ctx.seeds[0] + 1) + t)
        fake = self.sample_from(self.G, 10_000, gen)
        return [count_modes(fake[r].reshape(fake.shape[1], -1), self.diagnostics_std_threshold)
                for r in range(fake.shape[0])]

    def enter_phase2(self) -> None:
        """Swap in the score sampler and start the auxiliary discriminator from the phase-1 D."""
        self.score_sampler.set_probabilities(self.boundary["score"].to(self.data.x.device))
        self.sampler = self.score_sampler
        self._build_aux()
        self.aux_opt.load_state_dict(copy.deepcopy(self.opt_d.state_dict()))
        self.phase = 2
        print(f"\n[diagan] step {self.p1}: phase 2, real batches ∝ discrepancy score "
              f"(k={self.k}, {len(self.boundary['snapshot_steps'])} snapshots)")

    def _build_aux(self) -> None:
        self.aux_D = copy.deepcopy(self.D)
        self.aux_opt = self.ctx.gan.optimizer_d(self.aux_D.parameters())

    # -------------------------------------------------------- phase-2 steps
    def _aux_step(self, fake: torch.Tensor) -> None:
        """One NS step of the auxiliary D on a batch of the original sampler and this step's fakes."""
        indices = self.base_sampler.sample(self)
        real = self.data.as_float(self.data.x[indices])
        loss = self.aux_loss.d_loss(self.aux_D(real)[0], self.aux_D(fake.detach())[0])  # one call per half, as D
        self.aux_opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        self.aux_opt.step()

    def simultaneous_step(self) -> None:
        super().simultaneous_step()
        if self.aux_D is not None:
            self._aux_step(self.last_batch.fake)

    def discriminator_step(self) -> None:
        super().discriminator_step()
        if self.aux_D is not None:
            self._aux_step(self.last_batch.fake)

    def optimizers(self):
        """G's and D's optimisers, and in phase 2 the auxiliary D's (the learning-rate decay continues for it)."""
        aux = [(self.aux_opt, self.ctx.gan.lr_d)] if self.aux_opt is not None else []
        return super().optimizers() + aux

    # ------------------------------------------------------------------ DRS
    def drs_discriminator(self):
        if self.drs_discriminator_name == "main":
            return self.D, self.loss
        return (self.aux_D, self.aux_loss) if self.aux_D is not None else None

    # ---------------------------------------------------------- persistence
    def state_dict(self) -> dict:
        state = super().state_dict()
        state["sampler"] = self.base_sampler.state_dict()
        state["diagan"] = {
            "phase": self.phase, "store": self.store.state_dict(), "score_sampler": self.score_sampler.state_dict(),
            "aux_D": self.aux_D.state_dict() if self.aux_D is not None else None,
            "aux_opt": self.aux_opt.state_dict() if self.aux_opt is not None else None,
            "boundary": self.boundary, "history": self.history,
        }
        return state

    def load_state_dict(self, state: dict) -> None:
        self.sampler = self.base_sampler
        super().load_state_dict(state)
        extra = state["diagan"]
        self.phase = int(extra["phase"])
        self.store.load_state_dict(extra["store"])
        self.score_sampler.load_state_dict(extra["score_sampler"])
        self.boundary, self.history = extra["boundary"], list(extra["history"])
        if extra["aux_D"] is not None:
            self._build_aux()
            self.aux_D.load_state_dict(extra["aux_D"])
            self.aux_opt.load_state_dict(extra["aux_opt"])
        if self.phase == 2:
            self.sampler = self.score_sampler

    # ---------------------------------------------------------- reporting
    def diagnostics(self) -> list[dict] | None:
        drs = super().diagnostics()
        records: list[dict] = [dict(d) for d in drs] if drs else [{} for _ in range(self.ctx.replicas)]
        if self.boundary is not None:
            b = self.boundary
            for r, rec in enumerate(records):
                rec.update({
                    "phase2_step": self.p1 if self.p1 < self.total_steps else None,
                    "score_step": b["step"], "score_snapshots": len(b["snapshot_steps"]),
                    "ldrm_per_mode": _floats(b["ldrm_per_mode"][r]),
                    "ldrv_per_mode": _floats(b["ldrv_per_mode"][r]),
                    "score_per_mode": _floats(b["score_per_mode"][r]),
                })
                if b.get("hq_counts") is not None:
                    rec["hq_counts_at_score_step"] = b["hq_counts"][r]
        if self.history:
            for r, rec in enumerate(records):
                rec["ldrm_per_mode_history"] = {"steps": [h["step"] for h in self.history],
                                                "values": [_floats(h["ldrm"][r]) for h in self.history]}
        return records

    def plots(self, folder: Path, data, results: list[dict], seeds: list[int], title: str) -> dict[str, Path]:
        return diagan_plots.diagan_figures(self, folder, data, results, seeds, title)


def _floats(values: torch.Tensor) -> list[float | None]:
    return [None if not math.isfinite(v) else round(float(v), 6) for v in values.tolist()]
