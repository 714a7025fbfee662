"""The training loop: steps, periodic evaluation and atomic checkpoints, divergence detection, resume."""
from __future__ import annotations

import copy
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from tqdm.auto import tqdm

from core.errors import DamagedFileError, require
from core.files import load_torch, quarantine, read_cached, save_torch
from engine.schedules import make_schedule
from engine.speed import check_speed_settings

CHECKPOINT_FILE = "checkpoint.pt"
CHECKPOINT_KEYS = ("training_hash", "method", "state", "rng", "torch_rng")
# Stop at the end of the current step (after a checkpoint) on these: Ctrl-C, a scheduler's termination, and the
# user signals a cluster sends before a time limit (submitit: USR2 by default, SUBMITIT_PREEMPT_SIGNAL otherwise).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)


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
    log_every: int = 100  # steps between recorded D/G losses (history.csv, the logger); 0: none
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
        require(self.eval_every >= 0 and self.ckpt_every >= 0 and self.log_every >= 0 and self.check_every >= 1,
                "trainer.eval_every, trainer.ckpt_every and trainer.log_every must be >= 0 and trainer.check_every >= 1")
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
    losses: list[list] = field(default_factory=list)  # every log_every steps: [step, [loss_d], [loss_g]] per replica
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
    its last step and only re-evaluates. A checkpoint of another setting is ignored. One that fails its checksum,
    cannot be read safely (``weights_only=True``), lacks a key or does not fit the method is renamed ``*.corrupt``
    (kept for inspection) and training starts over, with a warning; the method is left as it was set up."""
    path = Path(run_dir) / CHECKPOINT_FILE
    restart = "training starts from step 0"
    payload = read_cached(path, lambda p: _read_checkpoint(p, generator.device), restart)
    if payload is None:
        return None
    if payload["training_hash"] != train_hash:
        print(f"note: {path} belongs to another configuration; starting from step 0")
        return None
    snapshot = copy.deepcopy(method.state_dict())
    try:
        state = TrainState(**payload["state"])
        method.load_state_dict(payload["method"])
        generator.set_state(payload["rng"].cpu() if generator.device.type == "cpu" else payload["rng"])
        torch.set_rng_state(payload["torch_rng"])
    except Exception as exc:  # a key or shape the method does not know: never half-use it
        method.load_state_dict(snapshot)
        quarantine(path, f"checkpoint {path} does not fit this run ({type(exc).__name__}: {exc})", restart)
        return None
    return state


def _read_checkpoint(path: Path, device: torch.device) -> dict:
    payload = load_torch(path, map_location=device)
    missing = [k for k in CHECKPOINT_KEYS if not isinstance(payload, dict) or k not in payload]
    if missing:
        raise DamagedFileError(f"checkpoint {path} lacks {missing}")
    return payload


def fit(method, settings: TrainerSettings, state: TrainState, evaluate: Callable[[int], float | None],
        checkpoint: Callable[[TrainState], None], extras=None,
        on_losses: Callable[[list], None] | None = None) -> TrainState:
    """Run ``method.train_step`` from ``state.step`` to ``method.planned_steps(settings.steps)``.

    ``evaluate(step)`` is called every ``eval_every`` steps (its time is excluded from the training
    time) and returns the key metric for the progress bar; ``checkpoint(state)`` every ``ckpt_every``
    steps and on a stop signal (:data:`STOP_SIGNALS`), which the loop handles at the end of the current step (see
    :class:`DeferredSignals`). Every ``log_every`` steps (and at the last) the replicas' D and G losses are appended
    to ``state.losses`` and passed to ``on_losses``. Replicas whose losses turn non-finite are marked diverged; the
    loop stops early when all of them are.
    """
    if not state.diverged_at:
        state.diverged_at = [None] * method.ctx.replicas
    total_steps = method.planned_steps(settings.steps)
    bar = tqdm(total=total_steps, initial=state.step, disable=not settings.progress, dynamic_ncols=True,
               mininterval=1.0, unit="step", desc="train")
    refresh_every = 50
    last_refresh = state.step
    started = time.perf_counter()
    with DeferredSignals() as signals, bar:
        while state.step < total_steps:
            if extras is None:
                method.train_step(state.step)
            else:
                with extras.step_context():
                    method.train_step(state.step)
                extras.after_step(state.step + 1)
            state.step += 1
            step = state.step
            if signals.pending:
                state.train_seconds += time.perf_counter() - started
                checkpoint(state)
                signals.hand_over(step)  # returns only when the signal's own handler lets training go on
                started = time.perf_counter()
            if settings.log_every and (step % settings.log_every == 0 or step == total_steps):
                state.losses.append([step, method.loss_d.tolist(), method.loss_g.tolist()])
                if on_losses is not None:
                    on_losses(state.losses[-1])
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
    return state


class DeferredSignals:
    """While training (main thread only): a stop signal (:data:`STOP_SIGNALS`) only sets a flag, checked between
    steps, so that the checkpoint written for it is a consistent state; the same signal twice stops at once.

    :meth:`hand_over`, called after that checkpoint, gives the signal to the handler that was installed before
    (e.g. submitit's, which requeues the job on a cluster and exits); when that handler returns (submitit ignores
    SIGTERM), training goes on. Without one: Ctrl-C raises KeyboardInterrupt, the others exit with status
    128 + signal number; both say how to resume. A signal ignored before (SIG_IGN) stays ignored, but for Ctrl-C.
    """

    def __init__(self):
        self.pending: list[int] = []
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> "DeferredSignals":
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                previous = signal.getsignal(signum)
                if previous is signal.SIG_IGN and signum != signal.SIGINT:
                    continue
                self.previous[signum] = previous
                signal.signal(signum, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for signum, previous in self.previous.items():
            signal.signal(signum, previous)

    def _handler(self, signum, frame) -> None:
        name = signal.Signals(signum).name
        if signum in self.pending:
            if signum != signal.SIGINT:
                print(f"\n{name} again: stopping now, without a checkpoint", flush=True)
            self._stop(signum, "again: stopped at once, without a checkpoint (the last checkpoint resumes)")
        self.pending.append(signum)
        again = "Ctrl-C" if signum == signal.SIGINT else name
        print(f"\n{name}: stopping after this step to write a checkpoint ({again} again to stop at once)...",
              flush=True)

    def hand_over(self, step: int) -> None:
        """After the checkpoint of ``step``: pass each pending signal to its previous handler, or stop."""
        while self.pending:
            signum = self.pending.pop(0)
            name = signal.Signals(signum).name
            previous = self.previous.get(signum)
            saved = f"after step {step}: checkpoint saved (the same command resumes from it)"
            if callable(previous) and previous is not signal.default_int_handler:
                print(f"\n{name} {saved}", flush=True)
                previous(signum, None)  # e.g. submitit's: requeues the job, then exits
                if signum != signal.SIGINT:
                    print(f"{name}: the handler installed before returned; training goes on", flush=True)
                    continue
            elif signum != signal.SIGINT:
                print(f"\n{name} {saved}", flush=True)
            self._stop(signum, saved)

    @staticmethod
    def _stop(signum: int, detail: str = "without a checkpoint") -> None:
        """Ctrl-C: KeyboardInterrupt(``detail``), which engine.job turns into one line and exit status 130; any
        other signal: exit status 128 + its number."""
        if signum == signal.SIGINT:
            raise KeyboardInterrupt(detail)
        raise SystemExit(128 + signum)


def _check_finite(method, state: TrainState) -> None:
    finite = (torch.isfinite(method.loss_d) & torch.isfinite(method.loss_g)).tolist()
    for r, ok in enumerate(finite):
        if not ok and state.diverged_at[r] is None:
            state.diverged_at[r] = state.step
            print(f"\nreplica {r} (seed {method.ctx.seeds[r]}): non-finite loss by step {state.step}; "
                  "recorded as diverged")
