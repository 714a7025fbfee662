"""Every command in README.md runs as written, checked without training (issue 19).

The commands are the lines of the README's ```bash blocks and its inline code spans that start with ``python ``
(``a && b`` chains are split, ``# comments`` dropped, ``\\`` continuations joined; an inline ``python -m <module>``
alone names an entry point and is no command). Each is checked by kind:

- ``python run.py ...``: parsed as run.py parses it and composed and validated by ``engine.preflight.plan_jobs``, the
  check run.py makes before Hydra starts (a misspelled group option or key, a wrong type, an impossible combination);
  run folders are resolved inside a temporary working directory;
- ``python -m sweeps.run ...``: ``sweeps.run.main`` in-process with ``--dry-run`` and ``--out`` in a temporary folder
  (the spec, its option names and every override are checked; nothing is trained);
- ``python -m sweeps.leaderboard ...``: ``sweeps.leaderboard.main`` with its folders replaced by a tiny records folder
  the test writes and ``--out`` in a temporary folder (its options and its ``--paper`` file are real).

Placeholders: a README command may hold ``<partition>`` (a SLURM partition); :data:`PLACEHOLDERS` substitutes it
before the check. Any other ``<...>`` fails the test. Commands that cannot be checked this way are listed in
:data:`EXEMPT` with the reason; a ``python`` command of any other kind fails the test, so a new entry point needs a
check here. The default run expands each multirun to its first and last job (the others differ only in the swept
option names, which composition checks as well); ``pytest -m slow`` composes every job.
"""
from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
from pathlib import Path

import pytest

from core.errors import ConfigError
from engine import preflight
from engine.trainer import TrainerSettings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()

PLACEHOLDERS = {"<partition>": "gpu"}  # any name composes: the partition is only read by SLURM
EXEMPT = {
    "python -m venv": "creates a virtual environment (the standard library, not a modebench entry point)",
    "python -m datasets.download": "downloads the datasets from the internet",
}
ENTRY_POINTS = {"run.py": "run", "sweeps.run": "sweep", "sweeps.leaderboard": "leaderboard", "sweeps.wandb_log": "wandb"}


def readme_commands(text: str) -> list[str]:
    """The ``python ...`` commands of a README text, in order, without duplicates and with placeholders filled."""
    lines, inline, fence = [], [], None
    for line in text.splitlines():
        if line.startswith("```"):
            fence = None if fence is not None else line[3:].strip()
            continue
        if fence == "bash":
            if lines and lines[-1].endswith("\\"):
                lines[-1] = lines[-1][:-1] + " " + line.strip()
            else:
                lines.append(line.strip())
        elif fence is None:
            inline.append(line)
    # an inline span naming a module alone (`python -m sweeps.run`) names the entry point, it is no command
    spans = [s for s in re.findall(r"`(python [^`]+)`", " ".join(inline)) if not re.fullmatch(r"python -m [\w.]+", s)]
    commands = []
    for line in [*lines, *spans]:
        for part in " ".join(shlex.split(line, comments=True)).split(" && "):
            if part.startswith("python "):
                commands.append(_filled(part))
    return list(dict.fromkeys(commands))


def _filled(command: str) -> str:
    for placeholder, value in PLACEHOLDERS.items():
        command = command.replace(placeholder, value)
    left = re.findall(r"<[a-z_ ]+>", command)
    assert not left, f"README command {command!r} holds the placeholder(s) {left}: add them to PLACEHOLDERS"
    return command


def kind(command: str) -> str:
    tokens = command.split()
    if any(command.startswith(prefix) for prefix in EXEMPT):
        return "exempt"
    name = tokens[1] if tokens[1] != "-m" else tokens[2]
    assert name in ENTRY_POINTS, (f"README command {command!r}: no check for '{name}' in {__name__} (add one, or an "
                                  "exemption with its reason)")
    return ENTRY_POINTS[name]


def sampled(jobs: list) -> list:
    return jobs if len(jobs) <= 2 else [jobs[0], jobs[-1]]


def plan_sampled(full: bool):
    """``plan_jobs`` that composes and validates only the first and last job of a multirun (every job when
    ``full``)."""
    real = preflight.plan_jobs

    def plan(overrides, multirun, **kwargs):
        if full or not multirun:
            return real(overrides, multirun, **kwargs)
        return [p for job in sampled(preflight.expand_sweep(overrides)) for p in real(job, multirun, **kwargs)]
    return plan


def check_run(command: str, full: bool) -> None:
    from hydra._internal.utils import get_args_parser

    args, unknown = get_args_parser().parse_known_args(shlex.split(command)[2:])
    assert not unknown, f"{command!r}: run.py does not take {unknown}"
    plan_sampled(full)(args.overrides, args.multirun)


def check_sweep(command: str, tmp: Path, full: bool, monkeypatch) -> str:
    from sweeps import run as sweep_run

    argv = [a for a in shlex.split(command)[3:] if a != "--dry-run"]
    if "--out" in argv:
        argv[argv.index("--out") + 1] = str(tmp)
    else:
        argv += ["--out", str(tmp)]
    monkeypatch.setattr(sweep_run, "plan_jobs", plan_sampled(full))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            code = sweep_run.main([*argv, "--dry-run"])
        except SystemExit as exc:
            pytest.fail(f"{command!r}: {exc}")
    assert code == 0, out.getvalue()
    return out.getvalue()


def write_records(folder: Path) -> Path:
    """A tiny sweep folder: vanilla and rls_discr on ring and grid, 3 seeds each, with the toy metrics."""
    for dataset in ("ring", "grid"):
        for i, method in enumerate(("vanilla", "rls_discr")):
            records = [{"status": "completed", "seed": seed, "group": {
                "experiment": "rls_table1", "dataset": dataset, "gan": "mlp", "loss": "ns", "method": method},
                "metrics": {"nb_modes": 4 + 2 * i + seed, "hq_fraction": 0.5 + 0.1 * i, "kl_modes": 0.1 * seed,
                            "jsd": 0.2, "nonfinite_fraction": 0.0},
                "timing": {"train_seconds": 1.0, "steps": 30000}, "config": {"seed": seed},
                "config_hash": f"{dataset}{method}{seed}", "variant": f"{method}0000", "env": {}} for seed in range(3)]
            path = folder / dataset / method / "results.json"
            path.parent.mkdir(parents=True)
            path.write_text(json.dumps({"records": records}))
    return folder


def check_leaderboard(command: str, tmp: Path) -> None:
    from sweeps import leaderboard

    argv = shlex.split(command)[3:]
    leaderboard.build_parser().parse_args(argv)  # exits on an unknown option
    folders = next((i for i, a in enumerate(argv) if a.startswith("-")), len(argv))
    rest = argv[folders:]
    if "--out" in rest:
        rest[rest.index("--out") + 1] = str(tmp / "board")
    if "--paper" in rest:
        paper = ROOT / rest[rest.index("--paper") + 1]
        assert paper.exists(), f"{command!r}: no {paper}"
        rest[rest.index("--paper") + 1] = str(paper)
    records = write_records(tmp / "records")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        code = leaderboard.main([str(records), *rest])
    assert code == 0, f"{command!r}: exit status {code}: {err.getvalue()}"


def check_wandb_log(command: str, tmp: Path) -> None:
    """Its options parse; then it runs, offline, on a one-record copy of the tiny records folder instead of the
    README's folders (``--mode online`` would need the server)."""
    from sweeps import wandb_log

    argv = shlex.split(command)[3:]
    args = wandb_log.build_parser().parse_args(argv)  # exits on an unknown option
    folder = write_records(tmp / "records") / "ring" / "vanilla"
    results = json.loads((folder / "results.json").read_text())
    record = {**results["records"][0], "config": {"seed": 0, "trainer": {"steps": 30000}}}
    (folder / "results.json").write_text(json.dumps({"records": [record]}))
    options = [*(["--project", args.project] if args.project else []), *(["--again"] if args.again else [])]
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert wandb_log.main([str(folder), "--mode", "offline", *options]) == 0
    assert "logged as ring/vanilla/seed0" in out.getvalue()


def check(command: str, tmp: Path, monkeypatch, full: bool = False) -> None:
    monkeypatch.chdir(tmp)  # relative run folders resolve here, not in the checkout
    what = kind(command)
    if what == "run":
        check_run(command, full)
    elif what == "sweep":
        check_sweep(command, tmp / "sweep", full, monkeypatch)
    elif what == "leaderboard":
        check_leaderboard(command, tmp)
    elif what == "wandb":
        check_wandb_log(command, tmp)


COMMANDS = readme_commands(README)
CHECKED = [c for c in COMMANDS if kind(c) != "exempt"]


def _id(command: str) -> str:
    return command[len("python "):][:90]


@pytest.mark.parametrize("command", CHECKED, ids=_id)
def test_readme_command_runs_as_written(command, tmp_path, monkeypatch):
    check(command, tmp_path, monkeypatch)


@pytest.mark.slow
@pytest.mark.parametrize("command", [c for c in CHECKED if kind(c) in ("run", "sweep")], ids=_id)
def test_readme_command_composes_every_job(command, tmp_path, monkeypatch):
    check(command, tmp_path, monkeypatch, full=True)


def test_the_readme_keeps_the_install_and_test_commands_and_checks_every_kind():
    quick = README.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    assert 'pip install ".[dev]"' in quick and "\npytest" in quick  # what CI runs (.ci/run)
    kinds = {kind(c) for c in COMMANDS}
    assert {"run", "sweep", "leaderboard", "exempt"} <= kinds
    assert len(CHECKED) >= 30


@pytest.mark.parametrize("typo", [
    "python run.py dataset=grid method=rls_gaus",  # a misspelled group option
    "python run.py -m dataset=ring,gird method=vanilla",  # ... in a multirun
    "python run.py trainer.stepz=5",  # an unknown key
    "python run.py trainer.steps=10.5",  # a value of the wrong type
    "python -m sweeps.run rls_table1 --methods vanila",  # an unknown method of a sweep
    "python -m sweeps.run rls_table1 trainer.stepz=5",  # a misspelled override of a sweep
    "python -m sweeps.run rls_tabel1",  # an unknown sweep
    "python -m sweeps.leaderboard multirun/ --metircs nb_modes",  # an unknown leaderboard option
    "python -m sweeps.runner rls_table1",  # an entry point without a check
])
def test_a_readme_command_with_a_typo_fails_the_check(typo, tmp_path, monkeypatch):
    [command] = readme_commands(f"```bash\n{typo}   # a comment\n```\n")
    with pytest.raises((ConfigError, SystemExit, AssertionError, pytest.fail.Exception)):
        check(command, tmp_path, monkeypatch)


def test_placeholders_are_filled_and_unknown_ones_refused():
    text = "```bash\npython -m sweeps.run rls_table1 --launcher slurm hydra.launcher.partition=<partition>\n```\n"
    assert readme_commands(text) == ["python -m sweeps.run rls_table1 --launcher slurm hydra.launcher.partition=gpu"]
    with pytest.raises(AssertionError, match="placeholder"):
        readme_commands("Run `python run.py seed=<seed>` ...")


def test_the_reference_lists_every_config_option_sweep_and_trainer_field():
    reference = README.split("## Reference", 1)[1]
    for group in ("dataset", "gan", "loss", "method", "sampler", "trainer", "metrics", "evaluator", "prior", "augment",
                  "rls", "latent", "regularizer", "supervision", "inverter", "logger", "experiment"):
        missing = [p.stem for p in (ROOT / "conf" / group).glob("*.yaml") if f"`{p.stem}`" not in reference]
        assert not missing, f"conf/{group}/ options missing from the README's reference: {missing}"
    launchers = [p.stem for p in (ROOT / "conf" / "hydra" / "launcher").glob("*.yaml")]
    assert all(f"`{name}`" in reference for name in launchers), launchers
    sweeps = [p.stem for p in (ROOT / "sweeps").glob("*.yaml")]
    table = reference.split("### Paper tables", 1)[1]
    assert all(f"`python -m sweeps.run {name}" in table for name in sweeps), "a sweep without its README line"
    fields = reference.split("### Trainer fields", 1)[1].split("###", 1)[0]
    missing = [f for f in TrainerSettings.__dataclass_fields__ if f not in fields]
    assert not missing, f"trainer fields missing from the README's table: {missing}"


def test_every_docs_page_the_readme_links_exists():
    links = re.findall(r"\]\((docs/[^)#]+)", README)
    assert links and all((ROOT / link).exists() for link in links), [x for x in links if not (ROOT / x).exists()]
