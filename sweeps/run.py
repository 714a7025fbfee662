"""Run a paper-table sweep with one command, then compare it with the paper.

    python -m sweeps.run rls_table1                       # the whole table at the paper's budget
    python -m sweeps.run rls_table1 --steps 3000 --seeds 3 --jobs 2
    python -m sweeps.run rls_table1 --dry-run             # what would run, what is done (and the projected
                                                          # time, if the spec sets base_seconds)
    python -m sweeps.run rls_table1 --methods bures mwugan --datasets grid trainer.eval_every=0
    python -m sweeps.run rls_cifar10 --gans dcgan32 --dry-run   # a spec with a `gans` list: one GAN family

A sweep spec (``sweeps/<name>.yaml``) lists the experiment, datasets, methods and seeds (optional: ``metrics``,
the table's metric columns; ``gans``, GAN families to run the table with). Every (dataset, method)
is one job: ``python run.py experiment=<e> dataset=<d> method=<m> seed=0 trainer.replicas=<seeds>
trainer.threads=<threads> ...`` in ``<out>/<dataset>/<method>``, so the seeds of a row train together as replicas.
With ``gans`` every (gan, dataset, method) is a job, with ``gan=<g>``, in ``<out>/<gan>/<dataset>/<method>``
(``--gans`` picks some); the leaderboard then shows each paper row once per GAN family.
``--jobs`` jobs run in parallel (one per CPU core with ``threads: 1``), the longest first (``cost`` in the spec).

Re-running is safe and cheap: a job whose results.json is finished for its configuration hash is skipped
(checked here before starting a process), an interrupted one resumes from its checkpoint (run.py). Ctrl-C
forwards one interrupt to every running job, which write a checkpoint at the end of their current step; run
the same command again to continue. Per-job output goes to ``<run folder>/launcher.log``; ``<out>/sweep.json``
keeps the budget, machine, invocations and wall times, and heads the comparison table.
"""
from __future__ import annotations

import argparse
import datetime as dt
import functools
import os
import platform
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from engine.trainer import CHECKPOINT_FILE

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Job:
    dataset: str
    method: str
    overrides: list[str]
    run_dir: Path
    cost: float
    gan: str | None = None  # set when the spec lists `gans`
    status: str = "pending"  # pending | finished | resume | running | done | failed
    seconds: float = 0.0
    process: subprocess.Popen | None = field(default=None, repr=False)
    started: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.gan + '/' if self.gan else ''}{self.dataset}/{self.method}"


def load_spec(name: str) -> dict:
    path = Path(name)
    if not path.suffix:
        path = ROOT / "sweeps" / f"{name}.yaml"
    if not path.exists():
        available = sorted(p.stem for p in (ROOT / "sweeps").glob("*.yaml"))
        raise SystemExit(f"sweeps.run: no sweep spec '{name}' (looked for {path}); available: {available}")
    spec = yaml.safe_load(path.read_text())
    for key in ("experiment", "datasets", "methods", "seeds"):
        if key not in spec:
            raise SystemExit(f"sweeps.run: {path} lacks '{key}'")
    spec["name"] = path.stem
    return spec


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sweeps.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec", help="sweep name (sweeps/<name>.yaml) or path")
    p.add_argument("overrides", nargs="*", help="extra run.py overrides for every job (key=value)")
    p.add_argument("--steps", type=int, default=None, help="trainer.steps (default: the experiment's, the paper's)")
    p.add_argument("--seeds", type=int, default=None, help="seeds per row, trained as replicas (default: the spec's)")
    p.add_argument("--jobs", type=int, default=None, help="parallel jobs (default: the spec's)")
    p.add_argument("--threads", type=int, default=None, help="torch threads per job (default: the spec's)")
    p.add_argument("--methods", nargs="+", default=None, help="only these methods")
    p.add_argument("--datasets", nargs="+", default=None, help="only these datasets")
    p.add_argument("--gans", nargs="+", default=None, help="only these GAN families (specs with a `gans` list)")
    p.add_argument("--out", default=None, help="folder of the run folders (default: the spec's, suffixed for "
                                               "other budgets)")
    p.add_argument("--board", default=None, help="prefix of the comparison table files (.md/.csv/.html)")
    p.add_argument("--no-board", action="store_true", help="do not build the comparison table at the end")
    p.add_argument("--dry-run", action="store_true", help="list the jobs, their state and the projected time")
    p.add_argument("--note", default=None, help="a provenance note kept in sweep.json and printed under the "
                                                "table's header (e.g. how earlier rows were trained)")
    return p


def plan(spec: dict, args) -> tuple[list[Job], Path, Path, dict]:
    seeds = args.seeds or int(spec["seeds"])
    threads = args.threads or int(spec.get("threads", 1))
    default_budget = args.steps is None and seeds == int(spec["seeds"])
    out = Path(args.out) if args.out else ROOT / (spec.get("out", f"multirun/{spec['name']}") + (
        "" if default_budget else f"_steps{args.steps or 'default'}_seeds{seeds}"))
    board = Path(args.board) if args.board else (ROOT / spec["board"] if default_budget and spec.get("board")
                                                 else out / "leaderboard" / spec["name"])
    methods = args.methods or list(spec["methods"])
    datasets = args.datasets or list(spec["datasets"])
    unknown = [m for m in methods if not (ROOT / "conf" / "method" / f"{m}.yaml").exists()]
    if unknown:
        raise SystemExit(f"sweeps.run: unknown method(s) {unknown}")
    if args.gans and not spec.get("gans"):
        raise SystemExit(f"sweeps.run: {spec['name']} has no `gans` list; choose the GAN with an override (gan=...) "
                         "and its own --out folder")
    gans = args.gans or list(spec.get("gans") or [None])
    unknown = [g for g in gans if g is not None and not (ROOT / "conf" / "gan" / f"{g}.yaml").exists()]
    if unknown:
        raise SystemExit(f"sweeps.run: unknown gan(s) {unknown}")
    common = [f"experiment={spec['experiment']}", "seed=0", f"trainer.replicas={seeds}", f"trainer.threads={threads}",
              *spec.get("overrides", []), *([f"trainer.steps={args.steps}"] if args.steps else []), *args.overrides]
    costs, gan_costs = spec.get("cost", {}), spec.get("gan_cost", {})
    jobs = [Job(d, m, [*common, *([f"gan={g}"] if g else []), f"dataset={d}", f"method={m}"],
                (out / g if g else out) / d / m, float(costs.get(m, 1.0)) * float(gan_costs.get(g, 1.0)), g)
            for g in gans for d in datasets for m in methods]
    info = {"seeds": seeds, "threads": threads, "default_budget": default_budget}
    return jobs, out, board, info


@functools.lru_cache(maxsize=None)
def _compose(overrides: tuple[str, ...]):
    from hydra import compose as hydra_compose, initialize_config_dir

    import engine.build  # noqa: F401  (its datasets import registers the config resolvers image datasets use)

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return hydra_compose("config", overrides=list(overrides))


def compose(overrides: list[str]):
    """The config a job's run.py composes (without the hydra node)."""
    return _compose(tuple(overrides))


def job_state(job: Job) -> str:
    """'finished' (results complete for this exact configuration), 'resume' (a checkpoint exists) or 'pending'."""
    from omegaconf import OmegaConf

    from engine.records import config_hash, is_finished, load_results

    cfg = compose(job.overrides)
    if is_finished(load_results(job.run_dir), config_hash(OmegaConf.to_container(cfg, resolve=True))):
        return "finished"
    return "resume" if (job.run_dir / CHECKPOINT_FILE).exists() else "pending"


def budget_text(jobs: list[Job]) -> str:
    cfg = compose(jobs[0].overrides)
    text = f"{cfg.trainer.steps} steps x batch {cfg.trainer.batch_size} per generator"
    mixtures = sorted({j.method for j in jobs if "num_generators" in compose(j.overrides).method})
    if mixtures:
        cfg_m = compose(next(j for j in jobs if j.method == mixtures[0]).overrides)
        text += f" ({', '.join(mixtures)}: {cfg_m.method.num_generators} generators)"
    return text + f"; {cfg.metrics.n_samples} evaluation samples"


def machine_text(jobs_parallel: int, threads: int) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    device = "CPU"
    if torch.cuda.is_available():
        device = torch.cuda.get_device_name(0)
    return (f"{cpu}, {os.cpu_count()} cores ({device}); {jobs_parallel} jobs x {threads} thread(s); "
            f"torch {torch.__version__}, Python {platform.python_version()}")


def project(jobs: list[Job], slots: int, base_seconds: float) -> float:
    """Longest-first schedule of the given jobs on ``slots`` workers: projected wall seconds."""
    loads = [0.0] * max(1, slots)
    for job in sorted(jobs, key=lambda j: -j.cost):
        i = loads.index(min(loads))
        loads[i] += job.cost * base_seconds
    return max(loads)


def _fmt_seconds(s: float) -> str:
    return str(dt.timedelta(seconds=int(round(s))))


def _log(message: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {message}", flush=True)


def run_jobs(jobs: list[Job], slots: int, threads: int) -> None:
    """Start pending jobs longest first, ``slots`` at a time; Ctrl-C forwards one SIGINT to each running job."""
    queue = sorted((j for j in jobs if j.status in ("pending", "resume")), key=lambda j: -j.cost)
    running: list[Job] = []
    total = len(queue)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    previous_term = signal.signal(signal.SIGTERM, _terminate)
    # a launcher started in the background of a script inherits an ignored SIGINT: make `kill -INT` work too
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        while queue or running:
            while queue and len(running) < slots:
                job = queue.pop(0)
                job.run_dir.mkdir(parents=True, exist_ok=True)
                log = open(job.run_dir / "launcher.log", "a")
                log.write(f"\n=== {dt.datetime.now().isoformat(timespec='seconds')}: {shlex.join(_command(job))}\n")
                log.flush()
                job.process = subprocess.Popen(_command(job), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env,
                                               start_new_session=True)  # Ctrl-C reaches jobs only through us
                log.close()
                job.started, job.status = time.time(), "running"
                running.append(job)
                done = total - len(queue) - len(running)
                _log(f"start {job.name} ({'resuming' if (job.run_dir / CHECKPOINT_FILE).exists() else 'new'}); "
                     f"{len(running)} running, {len(queue)} queued, {done} done")
            time.sleep(0.5)
            for job in list(running):
                rc = job.process.poll()
                if rc is None:
                    continue
                running.remove(job)
                job.seconds = time.time() - job.started
                job.status = "done" if rc == 0 else "failed"
                tail = "" if rc == 0 else f" -- exit {rc}, see {job.run_dir / 'launcher.log'}"
                _log(f"{'done  ' if rc == 0 else 'FAILED'} {job.name} in {_fmt_seconds(job.seconds)}{tail}")
    except KeyboardInterrupt:
        _log(f"interrupted: asking {len(running)} running job(s) to checkpoint and stop (Ctrl-C again to kill)")
        for job in running:
            job.process.send_signal(signal.SIGINT)
        try:
            for job in running:
                job.process.wait()
                job.seconds = time.time() - job.started
                job.status = "interrupted"
        except KeyboardInterrupt:
            for job in running:
                job.process.kill()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)


def _terminate(signum, frame):
    """SIGTERM (e.g. a scheduler stopping the sweep) is handled like Ctrl-C: jobs checkpoint, then stop."""
    raise KeyboardInterrupt


def _command(job: Job) -> list[str]:
    return [sys.executable, "run.py", *job.overrides, f"hydra.run.dir={job.run_dir}"]


def write_sweep_json(out: Path, meta: dict, jobs: list[Job], invocation: dict, note: str | None = None) -> Path:
    """Add one invocation (and ``note``) to ``<out>/sweep.json``; its ``meta`` heads the comparison table.

    The table's header lists every distinct command that contributed runs and every note, so a reproduction
    completed over several invocations keeps its whole provenance.
    """
    from core.files import read_json, write_json

    path = out / "sweep.json"
    try:
        state = read_json(path)
    except (OSError, ValueError):
        state = {"invocations": [], "jobs": {}}
    state["invocations"].append(invocation)
    if note:
        state.setdefault("notes", []).append(note)
    for job in jobs:
        entry = state["jobs"].setdefault(job.name, {"seconds": 0.0})
        if job.status in ("done", "failed", "interrupted"):
            entry["seconds"] = round(entry["seconds"] + job.seconds, 1)
        entry["status"] = "finished" if job.status in ("done", "finished") else job.status
    wall = sum(i["wall_seconds"] for i in state["invocations"])
    meta = dict(meta, wall_time=f"{_fmt_seconds(wall)} over {len(state['invocations'])} invocation(s) "
                                f"(job time {_fmt_seconds(sum(j['seconds'] for j in state['jobs'].values()))})",
                command=list(dict.fromkeys(i["argv"] for i in state["invocations"])),
                notes=list(state.get("notes", [])))
    state["meta"] = meta
    write_json(path, state)
    return path


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_intermixed_args(argv)  # overrides may follow options
    spec = load_spec(args.spec)
    sys.path.insert(0, str(ROOT))
    jobs, out, board, info = plan(spec, args)
    slots = args.jobs or int(spec.get("jobs", 1))
    for job in jobs:
        job.status = job_state(job)
    todo = [j for j in jobs if j.status != "finished"]
    base = float(spec.get("base_seconds", 0) or 0)
    _log(f"{spec['name']}: {len(jobs)} jobs ({len(jobs) - len(todo)} finished, "
         f"{sum(j.status == 'resume' for j in jobs)} to resume, {sum(j.status == 'pending' for j in jobs)} new) "
         f"in {out}; {slots} parallel x {info['threads']} thread(s)")
    if args.dry_run:
        for job in sorted(jobs, key=lambda j: -j.cost):
            print(f"  {job.status:9s} {job.name:28s} cost {job.cost:5.2f}  {shlex.join(_command(job))}")
        if base:
            print(f"projected wall time of the remaining jobs (paper budget, cost x {base:.0f} s): "
                  f"{_fmt_seconds(project(todo, slots, base))}")
        return 0
    command = shlex.join(["python", "-m", "sweeps.run", *(argv if argv is not None else sys.argv[1:])])
    meta = {"command": command, "budget": budget_text(jobs),
            "seeds": f"{info['seeds']} per row (seeds 0-{info['seeds'] - 1}, trained as replicas)",
            "machine": machine_text(slots, info["threads"]), "date": dt.date.today().isoformat()}
    try:
        from engine.records import git_commit
        meta["commit"] = git_commit()
    except Exception:  # pragma: no cover
        pass
    started = time.time()
    interrupted = False
    try:
        run_jobs(jobs, slots, info["threads"])
    except KeyboardInterrupt:
        interrupted = True
    finally:
        out.mkdir(parents=True, exist_ok=True)
        sweep_json = write_sweep_json(out, meta, jobs, {
            "argv": command, "start": dt.datetime.fromtimestamp(started).isoformat(timespec="seconds"),
            "wall_seconds": round(time.time() - started, 1), "interrupted": interrupted}, note=args.note)
    if interrupted:
        _log("stopped; run the same command again to resume")
        return 130
    failed = [j.name for j in jobs if j.status == "failed"]
    _log(f"sweep finished in {_fmt_seconds(time.time() - started)}" + (f"; FAILED: {failed}" if failed else ""))
    if not args.no_board and spec.get("paper"):
        from sweeps import leaderboard

        board.parent.mkdir(parents=True, exist_ok=True)
        rc = leaderboard.main([str(out), "--paper", str(ROOT / spec["paper"]), "--out", str(board),
                               "--meta", str(sweep_json), *(["--metrics", *spec["metrics"]] if spec.get("metrics")
                                                            else [])])
        if rc:
            return rc
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
