"""Sweeps on Hydra's launchers: a 4-job multirun in parallel (joblib) and as submitit processes, with records, W&B runs,
a leaderboard and one injected failure; the same jobs through sweeps.run land in the same folders and are skipped;
killing the front door never gets one folder trained twice; submitit requeues a job stopped by its time-limit
signal and the job resumes. Budgets are tiny (toy data, 40 steps, 1 seed)."""
import json
import os
import signal
import subprocess
import sys
import time

from conftest import ROOT
from engine.lock import lock_holder
from engine.preflight import plan_jobs
from sweeps import leaderboard as lb
from sweeps import run as sweep

TINY = ["experiment=rls_table1", "trainer.steps=40", "trainer.replicas=1", "metrics.n_samples=500",
        "method._target_=faults.FaultyMethod", "trainer.threads=1", "trainer.progress=false"]
FRONT_DOOR = ["rls_table1", "--steps", "40", "--seeds", "1", "--no-board", "metrics.n_samples=500",
              "method._target_=faults.FaultyMethod"]  # the same jobs as TINY through sweeps.run


def _env(**extra) -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT / "tests"), WANDB_MODE="offline", WANDB_SILENT="true", **extra)


def _multirun(overrides, timeout=600):
    return subprocess.run([sys.executable, "run.py", "-m", *overrides], cwd=ROOT, env=_env(), capture_output=True,
                          text=True, timeout=timeout)


def _records(job) -> list[dict]:
    return json.loads((job.run_dir / "results.json").read_text())["records"]


def _trainings(job) -> int:
    """How many times the job's folder was trained: the start lines in its log (run.log)."""
    log = job.run_dir / "run.log"
    return log.read_text().count(f"| {job.run_dir}\n") if log.exists() else 0


def test_a_parallel_sweep_records_every_job_one_failure_and_the_front_door_skips_them(tmp_path, monkeypatch, capfd):
    out = tmp_path / "sweep"
    overrides = ["method=vanilla,bures", "dataset=ring,grid", *TINY, f"hydra.sweep.dir={out}"]
    jobs = {(j.choices["dataset"], j.choices["method"]): j for j in plan_jobs(overrides, multirun=True)}
    failing = jobs["grid", "bures"]
    failing.run_dir.mkdir(parents=True)
    (failing.run_dir / "explode").touch()
    proc = _multirun([*overrides, "logger=wandb", "hydra/launcher=parallel", "hydra.launcher.n_jobs=2"])
    assert proc.returncode == 1, proc.stderr[-3000:]  # the summary's status: a job failed
    assert "4 job(s)" in proc.stdout and "3 trained, 1 failed" in proc.stdout
    assert f"FAILED     {failing.run_dir}: RuntimeError: injected failure at step 10" in proc.stdout
    for key, job in jobs.items():
        records = _records(job)
        assert len(records) == 1 and records[0]["config_hash"] == job.config_hash
        assert len(list((job.run_dir / "wandb").glob("offline-run-*"))) == 1  # one W&B run per job, in loky workers
        if job is failing:
            error = records[0]["error"]
            assert records[0]["status"] == "failed" and error["type"] == "RuntimeError"
            assert error["log"] == str(job.run_dir / "run.log") and "injected failure" in error["message"]
            assert "RuntimeError: injected failure at step 10" in (job.run_dir / "run.log").read_text()  # traceback
        else:
            assert records[0]["status"] == "completed" and records[0]["timing"]["steps"] == 40
    capfd.readouterr()
    assert lb.main([str(out), "--metrics", "nb_modes"]) == 0
    table = capfd.readouterr().out.split("### dataset: grid")[1].split("###")[0]
    assert "| method | nb_modes | n | diverged | failed |" in table and "| bures | — | 0 | 0 | 1 |" in table

    # the same sweep through the front door: the same folders; the finished jobs are left out or skip themselves,
    # the failed one (its fault removed) is trained again
    (failing.run_dir / "explode").unlink()
    monkeypatch.setenv("PYTHONPATH", str(ROOT / "tests"))
    argv = [*FRONT_DOOR, "--methods", "vanilla", "bures", "--datasets", "ring", "grid", "--out", str(out)]
    assert sweep.main(argv) == 0
    printed = capfd.readouterr().out
    assert "running: python run.py -m method=bures dataset=grid" in printed  # vanilla and ring are all finished
    assert "4 job(s) of rls_table1: 1 trained, 3 skipped" in printed
    for job in jobs.values():
        assert _records(job)[0]["status"] == "completed"
        assert _trainings(job) == (2 if job is failing else 1)  # the failed one: once failing, once now
    assert sweep.main(argv) == 0 and "all 4 jobs are finished: nothing to run" in capfd.readouterr().out


def _wait(condition, timeout=300.0, what="a condition"):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_killing_the_front_door_then_running_it_again_never_trains_a_folder_twice(tmp_path, monkeypatch, capfd):
    """kill -9 of sweeps.run leaves its launcher training (an orphan); the second invocation finds that folder locked
    and leaves it alone, trains the other one; the orphan then finds that one finished."""
    out = tmp_path / "sweep"
    monkeypatch.setenv("PYTHONPATH", str(ROOT / "tests"))
    argv = [*FRONT_DOOR, "--methods", "vanilla", "bures", "--datasets", "ring", "--out", str(out), "--launcher",
            "basic"]
    jobs = sweep.jobs_of(sweep.plan(sweep.load_spec("rls_table1"), sweep.build_parser().parse_intermixed_args(argv))[0])
    held, other = jobs  # bures is the longer job: first in the multirun's order
    assert held.method == "bures"
    held.run_dir.mkdir(parents=True)
    (held.run_dir / "hold").touch()  # the first job waits at step 10 while this file exists
    front = subprocess.Popen([sys.executable, "-m", "sweeps.run", *argv], cwd=ROOT, env=_env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait(lambda: lock_holder(held.run_dir) is not None, what="the first job to start training")
    orphan = int(json.loads((held.run_dir / ".lock").read_text())["pid"])  # the launcher, training in-process
    front.send_signal(signal.SIGKILL)
    front.wait()
    assert lock_holder(held.run_dir) is not None  # the orphan goes on

    assert sweep.main(argv) == 0  # the second invocation
    printed = capfd.readouterr().out
    assert f"BUSY       {held.run_dir}: in use by pid {orphan}" in printed
    assert _records(other)[0]["status"] == "completed" and not (held.run_dir / "results.json").exists()

    (held.run_dir / "hold").unlink()  # let the orphan finish: it then finds the other job finished
    _wait(lambda: not os.path.exists(f"/proc/{orphan}"), what="the orphaned launcher to exit")
    for job in (held, other):
        assert _records(job)[0]["status"] == "completed"
        assert _trainings(job) == 1
    assert "already holds finished results" in (other.run_dir / "run.log").read_text()


def test_a_table_job_has_the_same_folder_whichever_way_it_is_started(monkeypatch):
    monkeypatch.chdir(ROOT)  # where run.py runs: the default sweep folder is relative to it
    spec = sweep.load_spec("rls_table1")
    for extra, out in (([], "rls_table1"), (["--steps", "2000", "--seeds", "3"], "rls_table1_steps2000_seeds3")):
        args = sweep.build_parser().parse_intermixed_args(["rls_table1", "--methods", "vanilla", "bures", "--datasets",
                                                           "ring", *extra])
        multiruns, folder, _, info = sweep.plan(spec, args)
        jobs = sweep.jobs_of(multiruns)
        assert folder == ROOT / "multirun" / out
        by_hand = ["experiment=rls_table1", "dataset=ring", "method=vanilla,bures",
                   *(["trainer.steps=2000", "trainer.replicas=3", f"hydra.sweep.dir=multirun/{out}"] if extra else [])]
        assert sorted(j.run_dir for j in plan_jobs(by_hand, multirun=True)) == sorted(j.run_dir for j in jobs)
    assert sorted(j.run_dir.name for j in sweep.jobs_of(sweep.plan(spec, sweep.build_parser().parse_intermixed_args(
        ["rls_table1", "--methods", "vanilla", "--datasets", "ring"]))[0])) == ["vanilla"]


def test_submitit_local_runs_each_job_in_a_process_of_its_own_and_requeues_one_stopped_by_its_time_limit(tmp_path,
                                                                                                       capfd):
    """Four submitit jobs; one gets USR2 (what SLURM sends a submitit job before its time limit) in the middle of
    training, under submitit's own handler: the step under way finishes, the checkpoint is written, submitit requeues
    the job and the requeued job resumes at that step. (That a resumed run ends as an uninterrupted one does:
    tests/test_preemption.py.)"""
    out = tmp_path / "sweep"
    overrides = ["method=vanilla,bures", "dataset=ring,grid", *TINY, f"hydra.sweep.dir={out}", "logger=none",
                 "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10"]
    jobs = {(j.choices["dataset"], j.choices["method"]): j for j in plan_jobs(overrides, multirun=True)}
    stopped = jobs["ring", "vanilla"]
    stopped.run_dir.mkdir(parents=True)
    (stopped.run_dir / "hold").touch()  # it waits at step 10 while this file exists
    proc = subprocess.Popen([sys.executable, "run.py", "-m", *overrides], cwd=ROOT, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = stopped.run_dir / "run.log"
    _wait(lambda: (stopped.run_dir / "waiting").exists(), what="the job to reach step 10")
    os.kill(int(json.loads((stopped.run_dir / ".lock").read_text())["pid"]), signal.SIGUSR2)
    _wait(lambda: "SIGUSR2: stopping after this step" in log.read_text(), what="the trainer to take the signal")
    (stopped.run_dir / "hold").unlink()
    printed, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, printed[-3000:]
    assert "4 job(s)" in printed and "4 trained" in printed
    text = log.read_text()
    assert "SIGUSR2 after step 11: checkpoint saved" in text and "resuming from step 11" in text
    submitit_logs = list((out / ".submitit").glob("*/*_log.*"))  # <job id>/<job id>_0_log.{out,err}
    assert len({p.parent for p in submitit_logs}) == 4  # one submitit job (and logs) per run
    assert len({p.parent for p in submitit_logs if "Requeued job" in p.read_text()}) == 1  # by submitit's handler
    for job in jobs.values():
        record = _records(job)[0]
        assert record["status"] == "completed" and record["timing"]["steps"] == 40
    assert lb.main([str(out), "--metrics", "nb_modes"]) == 0
    board = capfd.readouterr().out
    assert board.count("| vanilla |") == 2 and board.count("| bures |") == 2
