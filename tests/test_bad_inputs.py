"""Bad input gets one clear message naming the field and the fix, before any run folder is made: typed configs (the
components' own annotations, a schema for the top level), unknown keys with the valid ones, unwritable run folders,
and the sweep and leaderboard command lines."""
import subprocess
import sys

import pytest

from conftest import QUICK, ROOT
from core.errors import ConfigError
from engine.preflight import plan_jobs
from sweeps import leaderboard as lb
from sweeps import run as sweep


@pytest.mark.parametrize("override, message", [
    ("seed=abc", "seed: Value 'abc' of type 'str' could not be converted to Integer"),
    ("trainer.replicas=2.5", "trainer.replicas: Value '2.5' of type 'float' could not be converted to Integer"),
    ("trainer.steps=abc", "trainer.steps: Value 'abc' of type 'str' could not be converted to Integer"),
    ("trainer.steps=10.5", "trainer.steps: Value '10.5' of type 'float' could not be converted to Integer"),
    ("trainer.steps=1e3", r"trainer.steps: Value '1000.0' .* \(write trainer.steps=1000\)"),
    ("sampler.gamma=big", "sampler.gamma: Value 'big' of type 'str' could not be converted to Float"),
    ("gan.g_hidden=[128,1.5]", r"gan.g_hidden\[1\]: Value '1.5'"),
    ("metrics.n_samples=many", "metrics.n_samples: Value 'many'"),
    ("plots.replicas=-1", "plots.replicas must be >= 0"),
    ("+foo=bar", r"unknown top-level key\(s\) \['foo'\]; valid top-level keys: \[.*'dataset'"),
    ("+plots.every=3", r"unknown key 'plots.every'; valid keys there: \['enabled', .*'replicas'\]"),
    ("+trainer.stepz=5", r"unknown key\(s\) \['stepz'\] in 'trainer' .*valid keys: \[.*'batch_size'"),
    ("trainer.stepz=5", r"unknown key 'trainer.stepz' \(no 'stepz' in 'trainer'\); valid keys of 'trainer': "
                        r"\[.*'batch_size', .*'check_every'"),
    ("metrics.modes.std_thresold=3", r"unknown key 'metrics.modes.std_thresold' .*'std_threshold'"),
    ("dataset=rnig", r"Could not find 'dataset/rnig'; available options in 'dataset': celeba, .*, ring, "),
])
def test_a_bad_value_or_key_is_one_message_naming_it_and_no_folder_is_made(override, message, tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(ConfigError, match=message) as info:
        plan_jobs([*QUICK, override, f"hydra.run.dir={run_dir}"], multirun=False)
    assert "+trainer.stepz" not in str(info.value)  # not Hydra's advice to append the misspelled key
    assert not run_dir.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where, message", [
    ("/proc/modebench/run", "cannot be created: folders cannot be created in /proc"),
    ("{file}/run", "cannot be created: {file} is a file, not a folder"),
])
def test_an_unwritable_run_folder_is_refused_before_hydra_makes_it(where, message, tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    where, message = where.format(file=a_file), message.format(file=a_file)
    with pytest.raises(ConfigError, match=message + ".*choose another hydra.run.dir"):
        plan_jobs([*QUICK, f"hydra.run.dir={where}"], multirun=False)
    with pytest.raises(ConfigError, match=message + ".*choose another hydra.sweep.dir"):
        plan_jobs([*QUICK, "method=vanilla,bures", f"hydra.sweep.dir={where}"], multirun=True)


def test_two_jobs_that_would_share_a_folder_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="would share the run folder .*exclude_keys"):
        plan_jobs([*QUICK, "trainer.threads=1,2", f"hydra.sweep.dir={tmp_path}"], multirun=True)


@pytest.mark.parametrize("args, message", [
    (["trainer.stepz=5"], "modebench: configuration error: unknown key 'trainer.stepz' (no 'stepz' in 'trainer'); "
                          "valid keys of 'trainer': ['"),
    (["-m", "seed=0,abc"], "modebench: configuration error: seed: Value 'abc' of type 'str' could not be converted"),
    (["hydra.run.dir=/proc/modebench/x"], "modebench: configuration error: the run folder /proc/modebench/x cannot"),
])
def test_the_command_line_prints_one_line_and_makes_no_folder(args, message, tmp_path):
    folders = [f"hydra.sweep.dir={tmp_path}/sweep"] + ([] if any("hydra.run.dir" in a for a in args)
                                                       else [f"hydra.run.dir={tmp_path}/run"])
    flags = [a for a in args if a.startswith("-")]
    proc = subprocess.run([sys.executable, "run.py", *flags, *QUICK, *[a for a in args if a not in flags], *folders],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and proc.stderr.startswith(message), proc.stderr
    assert "stepz" not in args[0] or "'steps'" in proc.stderr  # the valid keys are listed
    assert len(proc.stderr.strip().splitlines()) == 1 and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv, message", [
    (["--datasets", "nosuch", "--dry-run"], r"unknown dataset\(s\) \['nosuch'\]; available: \[.*'ring'"),
    (["--methods", "nosuch", "--dry-run"], r"unknown method\(s\) \['nosuch'\]"),
    (["--dry-run", "trainer.stepz=5"], r"configuration error: unknown key 'trainer.stepz'.*valid keys of 'trainer'"),
    (["--launcher", "pbs", "--dry-run"], r"unknown launcher 'pbs'; available: \[.*'parallel'.*'slurm'"),
    (["--launcher", "basic", "--jobs", "2", "--dry-run"], "--jobs sets the workers of --launcher parallel"),
])
def test_sweep_run_names_the_bad_argument(argv, message):
    with pytest.raises(SystemExit, match=message):
        sweep.main(["rls_table1", "--methods", "vanilla", "--datasets", "ring", *argv])


@pytest.mark.parametrize("option, value", [("--seeds", "0"), ("--jobs", "0"), ("--steps", "-1"), ("--threads", "x")])
def test_sweep_run_refuses_counts_below_one(option, value, capsys):
    with pytest.raises(SystemExit) as info:
        sweep.main(["rls_table1", option, value, "--dry-run"])
    assert info.value.code == 2 and f"argument {option}:" in capsys.readouterr().err


def test_the_leaderboard_refuses_an_unwritable_output_before_reading_anything(tmp_path, capsys):
    assert lb.main([str(tmp_path), "--out", "/proc/modebench/table"]) == 2
    assert "--out /proc/modebench/table: its folder cannot be created" in capsys.readouterr().err
