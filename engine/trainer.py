"""The training loop: steps, periodic evaluation and atomic checkpoints, divergence detection, resume."""
from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from tqdm.auto import tqdm

from core.errors import require
from core.files import save_torch
from engine.schedules import make_schedule
from engine.speed import check_speed_settings

CHECKPOINT_FILE = "checkpoint.pt"


@dataclass
class TrainerSettings:
    """``trainer`` config group. ``update_scheme``/``n_dis`` choose the step scheme (see gans.method)."""

    steps: int = 30000
    batch_size: int = 64
    eval_every: int = 0  # 0: evaluate only at the end
    ckpt_every: int = 5000  # 0: no periodic checkpoint
    replicas: int = 1
    device: str = "auto"
    update_scheme: str = "simultaneous"
    n_dis: int = 1
    check_every: int = 100  # steps between non-finite loss checks (cheap, but not free)
    progress: bool = True
    threads: int | None = None  # torch intra-op threads; null = torch's default
    # learning-rate schedule (engine.schedules): none | linear, from lr_decay_start to lr_decay_end (fractions of
    # the planned steps); a moving average of G for evaluation (gans.ema): decay or null; speed (engine.speed)
    lr_decay: str = "none"
    lr_decay_start: float = 0.0
    lr_decay_end: float = 1.0
    ema_decay: float | None = None
    ema_start: int = 0
    channels_last: Any = "auto"
    tf32: Any = "auto"
    compile: bool = False
    autocast: str = "none"

    def __post_init__(self):
        require(self.steps >= 1, f"trainer.steps must be >= 1, got {self.steps}")
        require(self.batch_size >= 1, f"trainer.batch_size must be >= 1, got {self.batch_size}")
        require(self.replicas >= 1, f"trainer.replicas must be >= 1, got {self.replicas}")
        require(self.n_dis >= 1, f"trainer.n_dis must be >= 1, got {self.n_dis}")
        require(self.eval_every >= 0 and self.ckpt_every >= 0 and self.check_every >= 1,
                "trainer.eval_every and trainer.ckpt_every must be >= 0 and trainer.check_every >= 1")
        require(self.update_scheme in ("simultaneous", "alternating"),
                f"trainer.update_scheme must be 'simultaneous' or 'alternating', got '{self.update_scheme}'")
        require(self.device == "auto" or self.device.split(":")[0] in ("cpu", "cuda", "mps"),
                f"trainer.device must be auto, cpu, cuda[:k] or mps, got '{self.device}'")
        require(self.threads is None or self.threads >= 1, f"trainer.threads must be >= 1 or null, got {self.threads}")
        make_schedule(self.lr_decay, self.steps, self.lr_decay_start, self.lr_decay_end)
        require(self.ema_decay is None or 0 <= self.ema_decay < 1,
                f"trainer.ema_decay must be in [0, 1) or null, got {self.ema_decay}")
        require(self.ema_start >= 0, f"trainer.ema_start must be >= 0, got {self.ema_start}")
        check_speed_settings(self)

    def resolve_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        device = torch.device(self.device)
        require(device.type != "cuda" or torch.cuda.is_available(),
                "trainer.device=cuda but no CUDA device is visible; use trainer.device=auto or cpu")
        return device


@dataclass
class TrainState:
    """Everything the loop needs to continue exactly where it stopped."""

    step: int = 0
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    diverged_at: list[int | None] = field(default_factory=list)  # per replica: step of the first non-finite loss
    history: list[dict[str, Any]] = field(default_factory=list)  # periodic evaluations
    extras: dict[str, Any] = field(default_factory=dict)  # engine.extras.TrainingExtras.state_dict() (EMA)

    @property
    def all_diverged(self) -> bool:
        return bool(self.diverged_at) and all(s is not None for s in self.diverged_at)


def save_checkpoint(run_dir: Path, train_hash: str, method, state: TrainState, generator: torch.Generator) -> None:
    save_torch(Path(run_dir) / CHECKPOINT_FILE, {
        "training_hash": train_hash, "method": method.state_dict(), "state": state.__dict__,
        "rng": generator.get_state(), "torch_rng": torch.get_rng_state()})


def load_checkpoint(run_dir: Path, train_hash: str, method, generator: torch.Generator) -> TrainState | None:
    """Restore method, RNG and loop state from ``run_dir`` if a checkpoint of this training setting exists.

    ``train_hash`` ignores evaluation settings, so a finished run evaluated with new metrics resumes at
    its last step and only re-evaluates. A checkpoint of another setting is ignored; an unreadable one is
    renamed ``*.corrupt`` (kept for inspection) and training starts over, with a warning."""
    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.exists():
        return None
    try:
        payload = torch.load(path, map_location=generator.device, weights_only=False)
    except Exception as exc:  # a truncated or foreign file: never half-use it
        path.rename(path.with_suffix(".pt.corrupt"))
        print(f"warning: checkpoint {path} is unreadable ({exc.__class__.__name__}); starting from step 0")
        return None
    if payload.get("training_hash") != train_hash:
        print(f"note: {path} belongs to another configuration; starting from step 0")
        return None
    method.load_state_dict(payload["method"])
    generator.set_state(payload["rng"].cpu() if generator.device.type == "cpu" else payload["rng"])
    torch.set_rng_state(payload["torch_rng"])
    return TrainState(**payload["state"])


def fit(method, settings: TrainerSettings, state: TrainState, evaluate: Callable[[int], float | None],
        checkpoint: Callable[[TrainState], None], extras=None) -> TrainState:
    """Run ``method.train_step`` from ``state.step`` to ``method.planned_steps(settings.steps)``.

    ``evaluate(step)`` is called every ``eval_every`` steps (its time is excluded from the training
    time) and returns the key metric for the progress bar; ``checkpoint(state)`` every ``ckpt_every``
    steps and after a Ctrl-C, which stops the loop at the end of the current step. Replicas whose losses turn non-finite are marked diverged; the loop
    stops early when all of them are.
    """
    if not state.diverged_at:
        state.diverged_at = [None] * method.ctx.replicas
    total_steps = method.planned_steps(settings.steps)
    bar = tqdm(total=total_steps, initial=state.step, disable=not settings.progress, dynamic_ncols=True,
               mininterval=1.0, unit="step", desc="train")
    refresh_every = 50
    last_refresh = state.step
    started = time.perf_counter()
    with _deferred_interrupt() as interrupted:
        while state.step < total_steps:
            if extras is None:
                method.train_step(state.step)
            else:
                with extras.step_context():
                    method.train_step(state.step)
                extras.after_step(state.step + 1)
            state.step += 1
            step = state.step
            if interrupted():
                state.train_seconds += time.perf_counter() - started
                checkpoint(state)
                bar.close()
                print(f"\ninterrupted after step {step}; checkpoint saved, re-run the same command to resume")
                raise KeyboardInterrupt
            if step % settings.check_every == 0 or step == total_steps:
                _check_finite(method, state)
                if state.all_diverged:
                    break
            if step - last_refresh >= refresh_every:
                bar.update(step - last_refresh)
                last_refresh = step
            periodic_eval = settings.eval_every and step % settings.eval_every == 0 and step < total_steps
            periodic_ckpt = settings.ckpt_every and step % settings.ckpt_every == 0 and step < total_steps
            if periodic_eval or periodic_ckpt:
                state.train_seconds += time.perf_counter() - started
                if periodic_eval:
                    t0 = time.perf_counter()
                    key = evaluate(step)
                    state.eval_seconds += time.perf_counter() - t0
                    if key is not None:
                        bar.set_postfix(key=f"{key:.4g}", refresh=False)
                if periodic_ckpt:
                    checkpoint(state)
                started = time.perf_counter()
    state.train_seconds += time.perf_counter() - started
    bar.update(state.step - last_refresh)
    bar.close()
    return state


@contextmanager
def _deferred_interrupt():
    """Turn the first Ctrl-C (SIGINT) into a flag checked between steps, so the checkpoint written on
    interruption is a consistent state; a second Ctrl-C interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    requested = []
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        if requested:
            raise KeyboardInterrupt
        requested.append(True)
        print("\nstopping after this step (Ctrl-C again to abort without a checkpoint)...")

    signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: bool(requested)
    finally:
        signal.signal(signal.SIGINT, previous)


def _check_finite(method, state: TrainState) -> None:
    finite = (torch.isfinite(method.loss_d) & torch.isfinite(method.loss_g)).tolist()
    for r, ok in enumerate(finite):
        if not ok and state.diverged_at[r] is None:
            state.diverged_at[r] = state.step
            print(f"\nreplica {r} (seed {method.ctx.seeds[r]}): non-finite loss by step {state.step}; "
                  "recorded as diverged")
