"""Run a paper-table sweep with one command, then compare it with the paper.

    python -m sweeps.run rls_table1                       # the whole table, jobs in parallel on this machine
    python -m sweeps.run rls_table1 --steps 3000 --seeds 3 --jobs 2
    python -m sweeps.run rls_table1 --dry-run             # the jobs, their state, the run.py command and the
                                                          # projected time (when the spec sets base_seconds)
    python -m sweeps.run rls_table1 --launcher slurm hydra.launcher.partition=gpu      # on a SLURM cluster
    python -m sweeps.run rls_table1 --methods bures mwugan --datasets grid trainer.eval_every=5000
    python -m sweeps.run rls_cifar10 --gans dcgan32 --dry-run      # a spec with a `gans` list: one GAN family

A sweep spec (``sweeps/<name>.yaml``) lists the experiment, datasets, methods and seeds (optional: ``metrics``, the
table's metric columns; ``cost``, each method's relative job time; ``base_seconds``, one vanilla job's). Every
(dataset, method) is one job with the seeds trained together as replicas, and the jobs are one Hydra multirun::

    python run.py -m method=<longest first> dataset=<...> experiment=<e> trainer.threads=<t> <spec overrides>
        [trainer.steps=N trainer.replicas=S] <extra overrides> hydra/launcher=<launcher> hydra.sweep.dir=<out>

run by the chosen launcher (``--launcher``: ``parallel``, the default, Hydra's joblib launcher with ``--jobs``
workers; ``basic``, one job after another; ``submitit_local``; ``slurm`` or any file of conf/hydra/launcher/). Run
folders are ``<out>/<dataset>/<method>`` (conf/experiment/shared/table_layout.yaml), the same whether a job is
started here or by that ``run.py`` command. Re-running is safe and cheap: finished jobs are skipped (methods and
datasets finished everywhere are left out of the command; every job checks its own results.json), interrupted
ones resume from their checkpoint, and a folder another process is training is left alone (its lock). Ctrl-C (or
SIGTERM) passes one interrupt to the jobs, which write a checkpoint at the end of their current step. Each job's
output is in ``<run folder>/run.log``; ``<out>/sweep.json`` keeps the budget, machine, invocations and wall times,
and heads the comparison table.

Optional spec keys for tables whose cells differ: ``replicas: false`` trains every seed as its own job (an axis
``seed=0,...``, folders ``.../seed=<k>``; for GANs without replicas); ``dataset_overrides: {<dataset>: [key=value,
...]}`` and ``method_overrides: {<method>: [...]}`` add a dataset's or a method's own settings (its network, its
budget); ``variants: {<dataset>: {<key>: [values]}}`` runs every value as well (an axis, e.g. every digit as the
minority class); ``pool: [<key>, ...]`` makes the comparison table average over such keys (records that differ only
in them share a row); ``gans: [<gan>, ...]`` runs the table with each GAN family (an axis ``gan=a,b,...``, folders
``.../gan=<g>``; ``--gans`` picks some; ``gan_cost: {<gan>: x}`` scales the method costs of a family), and the
comparison table then shows each paper row once per GAN. Datasets and methods with different extra settings go to
separate multiruns, run one after another.
"""
from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from core.errors import ConfigError
from engine.lock import lock_holder
from engine.multirun import job_outcomes, summary_text
from engine.preflight import CONFIG_DIR, PlannedJob, plan_jobs
from engine.records import git_commit, is_finished, load_results
from engine.trainer import CHECKPOINT_FILE
from sweeps.launch import check_launcher, launch, launcher_overrides
from sweeps.provenance import budget_text, fmt_seconds, job_seconds, machine_text, write_sweep_json

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Job:
    dataset: str
    method: str
    overrides: list[str]  # the job's run.py overrides (one cell of the multirun)
    run_dir: Path
    cost: float
    status: str = "pending"  # pending | resume | busy | finished, then the outcome (engine.multirun.OUTCOMES)
    seconds: float = 0.0
    planned: PlannedJob | None = None
    name: str = ""  # the run folder below the sweep folder: <dataset>/<method>[/<axis overrides>]
    gan: str | None = None  # the GAN family, for a spec with a `gans` list


@dataclass
class Multirun:
    """One ``run.py -m`` command: the product of its methods, datasets and axes (the jobs it makes)."""

    sweep: list[str]  # method=..., dataset=... (and gan=... for a spec with `gans`), then the common overrides
    jobs: list[Job]

    @property
    def axes(self) -> tuple[str, ...]:
        """The job attributes the leading overrides of ``sweep`` range over (narrowed by :func:`remaining_sweep`)."""
        return ("method", "dataset", "gan") if self.jobs and self.jobs[0].gan else ("method", "dataset")


def jobs_of(multiruns: list[Multirun]) -> list[Job]:
    """Every job of the multiruns, in their order."""
    return [j for m in multiruns for j in m.jobs]


def fail(message: str) -> SystemExit:
    return SystemExit(f"sweeps.run: {message}")


def load_spec(name: str) -> dict:
    path = Path(name)
    if not path.suffix:
        path = ROOT / "sweeps" / f"{name}.yaml"
    if not path.exists():
        available = sorted(p.stem for p in (ROOT / "sweeps").glob("*.yaml"))
        raise fail(f"no sweep spec '{name}' (looked for {path}); available: {available}")
    spec = yaml.safe_load(path.read_text())
    for key in ("experiment", "datasets", "methods", "seeds"):
        if key not in spec:
            raise fail(f"{path} lacks '{key}'")
    spec["name"] = path.stem
    return spec


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sweeps.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec", help="sweep name (sweeps/<name>.yaml) or path")
    p.add_argument("overrides", nargs="*", help="extra run.py overrides for every job (key=value)")
    p.add_argument("--steps", type=_positive, default=None, help="trainer.steps (default: the experiment's, the "
                                                                 "paper's)")
    p.add_argument("--seeds", type=_positive, default=None, help="seeds per row, trained as replicas (default: the "
                                                                 "spec's)")
    p.add_argument("--launcher", default="parallel",
                   help="Hydra launcher: parallel (joblib on this machine, default), basic (one job after another), "
                        "submitit_local, slurm (conf/hydra/launcher/slurm.yaml) or another conf/hydra/launcher file")
    p.add_argument("--jobs", type=_positive, default=None, help="parallel jobs of the parallel launcher (default: CPU "
                                                                "cores / threads)")
    p.add_argument("--threads", type=_positive, default=None, help="torch threads per job (default: the spec's)")
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


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))


def _check_names(kind: str, names: list[str], group: str) -> None:
    unknown = [n for n in names if n not in _options(group)]
    if unknown:
        raise fail(f"unknown {kind}(s) {unknown}; available: {_options(group)}")


def plan(spec: dict, args) -> tuple[list[Multirun], Path, Path, dict]:
    """The multiruns (their jobs composed and checked, longest first), the sweep folder, the board prefix and the
    budget info.

    One multirun per group of datasets and methods that share their extra settings: the spec's
    ``dataset_overrides`` and ``variants`` (per dataset) and ``method_overrides`` (per method). ``variants`` and,
    with ``replicas: false``, the seeds and, with ``gans``, the GAN families are axes of the product (``key=v1,v2``),
    so their runs get sub-folders."""
    try:
        check_launcher(args.launcher)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    seeds = args.seeds or int(spec["seeds"])
    threads = args.threads or int(spec.get("threads", 1))
    default_budget = args.steps is None and seeds == int(spec["seeds"])
    out = Path(args.out).absolute() if args.out else ROOT / (spec.get("out", f"multirun/{spec['name']}") + (
        "" if default_budget else f"_steps{args.steps or 'default'}_seeds{seeds}"))
    board = Path(args.board) if args.board else (ROOT / spec["board"] if default_budget and spec.get("board")
                                                 else out / "leaderboard" / spec["name"])
    costs = spec.get("cost", {})
    methods = sorted(args.methods or list(spec["methods"]), key=lambda m: -float(costs.get(m, 1.0)))
    datasets = args.datasets or list(spec["datasets"])
    _check_names("method", methods, "method")
    _check_names("dataset", datasets, "dataset")
    gans, gan_costs = _gans(spec, args), spec.get("gan_cost", {})
    preset = _preset_budget(spec["experiment"])
    as_replicas = bool(spec.get("replicas", True))
    replicas = seeds if as_replicas else 1
    budget = [*([f"trainer.steps={args.steps}"] if args.steps and args.steps != preset["steps"] else []),
              *([f"trainer.replicas={replicas}"] if replicas != preset["replicas"] else []),
              *([] if as_replicas else [f"seed={','.join(str(k) for k in range(seeds))}"])]
    common = [f"experiment={spec['experiment']}", f"trainer.threads={threads}", *spec.get("overrides", []), *budget,
              *args.overrides, f"hydra.sweep.dir={out}"]
    multiruns = []
    for (d_extra, m_extra), (group_datasets, group_methods) in _groups(spec, datasets, methods).items():
        sweep = [f"method={','.join(group_methods)}", f"dataset={','.join(group_datasets)}",
                 *([f"gan={','.join(gans)}"] if gans else []), *d_extra, *m_extra, *common]
        try:  # composed with the launcher, so that hydra.launcher.* overrides resolve
            planned = plan_jobs([*sweep, f"hydra/launcher={args.launcher}"], multirun=True)
        except ConfigError as exc:
            raise fail(f"configuration error: {exc}") from None
        jobs = [Job(p.choices["dataset"], p.choices["method"], p.overrides, p.run_dir,
                    float(costs.get(p.choices["method"], 1.0)) * float(gan_costs.get(p.choices["gan"], 1.0)),
                    planned=p, name=str(p.run_dir.relative_to(out)), gan=p.choices["gan"] if gans else None)
                for p in planned]
        multiruns.append(Multirun(sweep, jobs))
    all_jobs = jobs_of(multiruns)
    info = {"seeds": seeds, "threads": threads, "jobs": spec.get("jobs"), "default_budget": default_budget,
            "replicas": as_replicas, "scale": _scale(all_jobs, preset, seeds, int(spec["seeds"]))}
    return multiruns, out, board, info


def _gans(spec: dict, args) -> list[str]:
    """The GAN families of a spec with a ``gans`` list (``--gans`` picks some), costliest first; [] without one."""
    listed = list(spec.get("gans") or [])
    if args.gans and not listed:
        raise fail(f"{spec['name']} has no `gans` list; choose the GAN with an override (gan=...) and its own --out "
                   "folder")
    gans = list(args.gans or listed)
    _check_names("gan", gans, "gan")
    if gans:
        extras = [*spec.get("overrides", []), *args.overrides,
                  *(o for table in ("dataset_overrides", "method_overrides")
                    for extra in (spec.get(table) or {}).values() for o in extra)]
        clash = [o for o in extras if o.split("=", 1)[0].lstrip("+~") == "gan"]
        if clash:
            raise fail(f"{spec['name']} sweeps the GAN families {gans} (its `gans` list); drop {clash} and pick "
                       "families with --gans")
    costs = spec.get("gan_cost", {})
    return sorted(gans, key=lambda g: -float(costs.get(g, 1.0)))


def _groups(spec: dict, datasets: list[str], methods: list[str]) -> dict[tuple, tuple[list[str], list[str]]]:
    """Datasets and methods grouped by their extra overrides: {(dataset extras, method extras): (datasets,
    methods)}, in the spec's order; one group (no extras) for a spec without per-dataset or per-method settings."""
    by_dataset: dict[tuple, list[str]] = {}
    for d in datasets:
        axes = [f"{key}={','.join(_override_value(v) for v in values)}"
                for key, values in (spec.get("variants") or {}).get(d, {}).items()]
        by_dataset.setdefault(tuple([*(spec.get("dataset_overrides") or {}).get(d, []), *axes]), []).append(d)
    by_method: dict[tuple, list[str]] = {}
    for m in methods:
        by_method.setdefault(tuple((spec.get("method_overrides") or {}).get(m, [])), []).append(m)
    return {(d_extra, m_extra): (ds, ms) for d_extra, ds in by_dataset.items() for m_extra, ms in by_method.items()}


def _override_value(value) -> str:
    """A value as Hydra's command line writes it (a list as [a,b])."""
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(str(v) for v in value) + "]"
    return str(value)


def _preset_budget(experiment: str) -> dict:
    """The experiment preset's own steps and replicas (what the spec's costs and base_seconds are measured at)."""
    cfg = plan_jobs([f"experiment={experiment}"], multirun=False, validate=False)[0].cfg
    return {"steps": int(cfg.trainer.steps), "replicas": int(cfg.trainer.replicas)}


def _scale(jobs: list[Job], preset: dict, seeds: int, spec_seeds: int) -> float:
    """Job time of this budget relative to the spec's: linear in steps and in seeds (replicas)."""
    steps = int(jobs[0].planned.cfg.trainer.steps) if jobs else preset["steps"]
    return steps / preset["steps"] * seeds / spec_seeds


def job_state(job: Job) -> str:
    """'finished' (results complete for this exact configuration), 'busy' (another process trains it), 'resume'
    (a checkpoint exists) or 'pending'."""
    if is_finished(load_results(job.run_dir), job.planned.config_hash):
        return "finished"
    if lock_holder(job.run_dir):
        return "busy"
    return "resume" if (job.run_dir / CHECKPOINT_FILE).exists() else "pending"


def remaining_sweep(multirun: Multirun) -> list[str] | None:
    """The multirun's overrides without the methods and datasets whose jobs are all finished (None: nothing left).
    A finished job inside the remaining product is skipped by the job itself."""
    jobs, axes = multirun.jobs, multirun.axes
    todo = [j for j in jobs if j.status != "finished"]
    if not todo:
        return None
    left = {a: [v for v in dict.fromkeys(getattr(j, a) for j in jobs) if any(getattr(j, a) == v for j in todo)]
            for a in axes}
    return [*(f"{a}={','.join(left[a])}" for a in axes), *multirun.sweep[len(axes):]]


def project(jobs: list[Job], slots: int, base_seconds: float) -> float:
    """Longest-first schedule of the given jobs on ``slots`` workers: projected wall seconds."""
    loads = [0.0] * max(1, slots)
    for job in sorted(jobs, key=lambda j: -j.cost):
        i = loads.index(min(loads))
        loads[i] += job.cost * base_seconds
    return max(loads)


def _log(message: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {message}", flush=True)


def board_inputs(out: Path, jobs: list[Job]) -> list[str]:
    """The results files of this setting in ``out``: ``<dataset>/<method>[/<suffix>]/results.json`` for every
    dataset and method there (other specs sharing the folder included), not those of other settings nested in it."""
    suffixes = dict.fromkeys(Path(*j.run_dir.relative_to(out).parts[2:]) for j in jobs)
    return sorted({str(p) for suffix in suffixes for p in out.glob(str(Path("*", "*", suffix, "results.json")))})


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_intermixed_args(argv)  # overrides may follow options
    spec = load_spec(args.spec)
    multiruns, out, board, info = plan(spec, args)
    jobs = jobs_of(multiruns)
    try:
        launcher, slots = launcher_overrides(args.launcher, args.jobs, info["threads"], info["jobs"])
    except ConfigError as exc:
        raise fail(str(exc)) from None
    for job in jobs:
        job.status = job_state(job)
    own_board = not args.no_board and bool(spec.get("paper") or spec.get("board"))
    quiet = ["hydra.callbacks.summary.board=false"] if own_board else []  # its table is printed once, at the end
    commands = [[sys.executable, "run.py", "-m", *remaining, *launcher, *quiet]
                for remaining in map(remaining_sweep, multiruns) if remaining]
    base = float(spec.get("base_seconds", 0) or 0)
    counts = {s: sum(j.status == s for j in jobs) for s in ("finished", "resume", "pending", "busy")}
    _log(f"{spec['name']}: {len(jobs)} jobs ({counts['finished']} finished, {counts['resume']} to resume, "
         f"{counts['pending']} new, {counts['busy']} busy elsewhere) in {out}; {args.launcher} launcher, "
         f"{f'{slots} parallel x ' if slots else ''}{info['threads']} thread(s)")
    if args.dry_run:
        for job in jobs:
            print(f"  {job.status:9s} {job.name:28s} cost {job.cost:5.2f}  {job.run_dir}")
        for command in commands:
            print("command:", shlex.join(["python", *command[1:]]))
        if not commands:
            print("command: (nothing left to run)")
        if base:
            todo = [j for j in jobs if j.status != "finished"]
            seconds, at_once = base * info["scale"], slots or len(todo)
            print(f"projected wall time of the remaining {len(todo)} jobs, {at_once} at once, longest first: "
                  f"{fmt_seconds(project(todo, at_once, seconds))} (job time "
                  f"{fmt_seconds(sum(j.cost for j in todo) * seconds)}; cost x {seconds:.0f} s = the spec's "
                  f"{base:.0f} s scaled to these steps and seeds)")
        return 0
    invocation_text = shlex.join(["python", "-m", "sweeps.run", *(argv if argv is not None else sys.argv[1:])])
    meta = {"command": invocation_text, "budget": budget_text(jobs),
            "seeds": f"{info['seeds']} per row (seeds 0-{info['seeds'] - 1}, "
                     f"{'trained as replicas' if info['replicas'] else 'one job each'})",
            "machine": machine_text(slots, info["threads"], args.launcher), "date": dt.date.today().isoformat(),
            "commit": git_commit()}
    started = time.time()
    if not commands:
        _log(f"all {len(jobs)} jobs are finished: nothing to run")
    rc, interrupted = 0, False
    for command in commands:  # one multirun after another (a spec with per-dataset or per-method settings)
        _log("running: " + shlex.join(["python", *command[1:]]))
        code, interrupted = launch(command, ROOT, info["threads"], _log)
        rc = rc or code
        if interrupted:
            break
    outcomes = job_outcomes([j.planned for j in jobs], started - 1.0)
    for job, outcome in zip(jobs, outcomes):
        job.status = outcome.status
        job.seconds = job_seconds(job) if outcome.status == "trained" else 0.0
    out.mkdir(parents=True, exist_ok=True)
    sweep_json = write_sweep_json(out, meta, jobs, {
        "argv": invocation_text, "start": dt.datetime.fromtimestamp(started).isoformat(timespec="seconds"),
        "wall_seconds": round(time.time() - started, 1), "interrupted": interrupted}, note=args.note)
    print(summary_text(outcomes, spec["name"]))
    failed = [j.name for j in jobs if j.status == "failed"]
    unfinished = [j.name for j in jobs if j.status in ("unfinished", "busy")]
    _log(f"sweep ended in {fmt_seconds(time.time() - started)}" + (f"; FAILED: {failed}" if failed else "") +
         (f"; not finished: {unfinished} (the same command resumes them)" if unfinished else ""))
    if own_board:
        from sweeps import leaderboard

        inputs = board_inputs(out, jobs)
        if inputs:
            board.parent.mkdir(parents=True, exist_ok=True)
            paper = ["--paper", str(ROOT / spec["paper"]), "--meta", str(sweep_json)] if spec.get("paper") else []
            code = leaderboard.main([*inputs, *paper, "--out", str(board),
                                     *(["--metrics", *spec["metrics"]] if spec.get("metrics") else []),
                                     *(["--pool", *spec["pool"]] if spec.get("pool") else [])])
            if code:
                return code
    if failed:
        return 1
    return 130 if interrupted else rc


if __name__ == "__main__":
    sys.exit(main())
