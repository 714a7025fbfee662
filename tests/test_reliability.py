"""The reliability holes found by fault injection, each closed: files load without running code; every file the
suite caches or checkpoints carries a checksum (400 bytes overwritten inside are caught, the file is put aside and
recomputed); a run that raises leaves a ``failed`` record; a damaged checkpoint restarts training; a folder holding
another training's results is never overwritten; results.json is standard JSON."""
import dataclasses
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import QUICK, ROOT, compose_run, interrupt_after, poison_replica_at
from core.errors import ConfigError, DamagedFileError
from core.files import DamagedFileWarning, load_torch, read_json, save_torch
from engine.records import load_results, save_results
from engine.run import execute
from gans.method import GANMethod

STEPS = ["method=vanilla", "trainer.steps=240", "trainer.ckpt_every=100", "trainer.threads=1"]


def _execute(run_dir, overrides=STEPS, **kwargs):
    cfg, choices = compose_run(QUICK + overrides)
    return execute(cfg, choices, run_dir, **kwargs)


def _overwrite_inside(path, n=400):
    """Overwrite ``n`` bytes in the middle of a file (inside its payload, as a bad disk block or a stray write)."""
    data = bytearray(path.read_bytes())
    start = len(data) // 2
    data[start:start + n] = bytes((b + 1) % 256 for b in data[start:start + n])
    path.write_bytes(bytes(data))


class _RunsShell:
    """Unpickling this calls os.system: what a tampered checkpoint could do with weights_only=False."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


# ------------------------------------------------------------------------------------------ 1. loading runs no code
def test_a_checkpoint_that_would_run_code_is_refused_and_put_aside(tmp_path):
    run_dir, marker = tmp_path / "run", tmp_path / "code-ran"
    run_dir.mkdir()
    torch.save({"training_hash": "x", "method": _RunsShell(marker), "state": {}, "rng": 0, "torch_rng": 0},
               run_dir / "checkpoint.pt")
    with pytest.warns(DamagedFileWarning, match=r"weights_only=True.*posix.system.*training starts from step 0"):
        records = _execute(run_dir)
    assert not marker.exists() and records[0]["status"] == "completed" and records[0]["timing"]["steps"] == 240
    with pytest.raises(DamagedFileError, match="refuses to rebuild"):
        load_torch(run_dir / "checkpoint.pt.corrupt")  # every cache loads through this function
    assert not marker.exists()


def test_every_torch_load_of_the_suite_goes_through_the_safe_loader():
    calls = []
    for folder in ("core", "datasets", "evaluators", "samplers", "metrics", "gans", "engine", "sweeps", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            for line in path.read_text().splitlines():
                if re.search(r"(?<!`)torch\.load\(|weights_only\s*=\s*False|allow_pickle\s*=\s*True", line):
                    calls.append(f"{path.relative_to(ROOT)}: {line.strip()}")
    assert calls == ["core/files.py: return torch.load(path, map_location=map_location, weights_only=True)"]


def test_files_without_a_checksum_from_before_still_load(tmp_path):
    torch.save({"embedding": torch.ones(3, 2)}, tmp_path / "old.pt")  # no footer
    assert torch.equal(load_torch(tmp_path / "old.pt")["embedding"], torch.ones(3, 2))
    save_torch(tmp_path / "new.pt", {"embedding": torch.ones(3, 2)})
    assert (tmp_path / "new.pt").read_bytes().endswith(b"\n") and b"modebench-sha256:" in (tmp_path / "new.pt").read_bytes()


# ------------------------------------------------------------------------------- 2. damaged files, one test per kind
def test_a_damaged_checkpoint_is_detected_and_training_restarts_to_the_right_result(tmp_path, monkeypatch):
    straight = _execute(tmp_path / "straight")
    monkeypatch.setattr(GANMethod, "on_step_end", interrupt_after(169))
    with pytest.raises(KeyboardInterrupt):
        _execute(tmp_path / "resumed")
    monkeypatch.undo()
    checkpoint = tmp_path / "resumed" / "checkpoint.pt"
    _overwrite_inside(checkpoint)
    with pytest.warns(DamagedFileWarning, match="fails its SHA-256 checksum"):
        resumed = _execute(tmp_path / "resumed")
    assert (tmp_path / "resumed" / "checkpoint.pt.corrupt").exists()
    assert resumed[0]["metrics"] == straight[0]["metrics"]


def test_a_checkpoint_missing_a_key_or_not_fitting_the_method_restarts_training(tmp_path, monkeypatch):
    straight = _execute(tmp_path / "straight")
    monkeypatch.setattr(GANMethod, "on_step_end", interrupt_after(169))
    for name in ("no_rng", "no_opt_d"):
        with pytest.raises(KeyboardInterrupt):
            _execute(tmp_path / name)
    monkeypatch.undo()
    payload = load_torch(tmp_path / "no_rng" / "checkpoint.pt")
    save_torch(tmp_path / "no_rng" / "checkpoint.pt", {k: v for k, v in payload.items() if k != "rng"})
    payload = load_torch(tmp_path / "no_opt_d" / "checkpoint.pt")
    payload["method"].pop("opt_d")  # G and D load, then the optimiser fails: the method must not be half-restored
    save_torch(tmp_path / "no_opt_d" / "checkpoint.pt", payload)
    with pytest.warns(DamagedFileWarning, match=r"lacks \['rng'\]"):
        assert _execute(tmp_path / "no_rng")[0]["metrics"] == straight[0]["metrics"]
    with pytest.warns(DamagedFileWarning, match="does not fit this run .*KeyError"):
        assert _execute(tmp_path / "no_opt_d")[0]["metrics"] == straight[0]["metrics"]


def test_damaged_evaluator_weights_are_detected_and_retrained(tmp_path, monkeypatch):
    from evaluators import specs

    trained = []

    def train(spec, train, test, num_classes, device):  # a stand-in for the real training: seeded, instant
        trained.append(num_classes)
        torch.manual_seed(0)
        return spec.build_network(num_classes), {"accuracy": 0.97, "epochs_trained": 1}

    images = {"x": torch.zeros(4, 1, 28, 28, dtype=torch.uint8), "y": torch.arange(4)}
    monkeypatch.setattr(specs, "train_network", train)
    monkeypatch.setattr(specs.ClassifierSpec, "_splits", lambda self, *a: (images, images, list("0123456789")))
    spec = specs.ClassifierSpec(name="tiny_cnn", arch={"hidden": 8}, floor=0.5)
    first = spec.load(None, "cpu", source="mnist5k", root=tmp_path)
    cache = next((tmp_path / "modebench" / "evaluators").glob("tiny_cnn-*.pt"))
    assert spec.load(None, "cpu", source="mnist5k", root=tmp_path).info["loaded_from_cache"] and len(trained) == 1
    _overwrite_inside(cache)
    with pytest.warns(DamagedFileWarning, match="fails its SHA-256 checksum.*retraining evaluator tiny_cnn"):
        again = spec.load(None, "cpu", source="mnist5k", root=tmp_path)
    assert len(trained) == 2 and not again.info["loaded_from_cache"]
    x = torch.randint(0, 256, (5, 1, 28, 28), dtype=torch.uint8)
    assert torch.equal(first.logits(x), again.logits(x)) and again.accuracy == 0.97


def test_damaged_rls_class_features_are_detected_and_recomputed(tmp_path):
    from image_helpers import TinyEvaluator, image_bundle
    from samplers.rls_class import ClassifierRLSSampler

    data = image_bundle(n=120, evaluator=TinyEvaluator(), uint8=False)
    data.images = dataclasses.replace(data.images, root=str(tmp_path))
    first = ClassifierRLSSampler(k=4, reduction="sketch").embedding(data)
    cache = next((tmp_path / "modebench" / "rls_class").glob("*.pt"))
    _overwrite_inside(cache, n=100)  # the file is small (120 x 4 floats)
    sampler = ClassifierRLSSampler(k=4, reduction="sketch")
    with pytest.warns(DamagedFileWarning, match="fails its SHA-256 checksum.*recomputing the RLS features"):
        again = sampler.embedding(data)
    assert sampler.timing.get("cached") is None and torch.equal(first, again)


def test_damaged_reference_statistics_are_detected_and_recomputed(tmp_path):
    from image_helpers import TinyEvaluator, image_bundle, memory_cache
    from metrics.fid import FID

    data = image_bundle(n=300, evaluator=TinyEvaluator())
    fake = torch.rand(100, 1, 8, 8) * 2 - 1
    first = FID(reference="train")(fake, data, memory_cache(cache_dir=str(tmp_path)))
    cached = next(tmp_path.glob("fid_stats-*.npz"))
    _overwrite_inside(cached, n=200)
    with pytest.warns(DamagedFileWarning, match="fails its SHA-256 checksum.*recomputing the fid_stats statistics"):
        again = FID(reference="train")(fake, data, memory_cache(cache_dir=str(tmp_path)))
    assert again["fcd"] == pytest.approx(first["fcd"], rel=1e-12) and cached.with_name(cached.name + ".corrupt").exists()


def test_a_damaged_decoded_data_cache_is_detected_and_rebuilt(tmp_path, monkeypatch):
    from data_helpers import write_mnist_like
    from datasets import sources

    write_mnist_like(tmp_path, "mnist", monkeypatch=monkeypatch)
    first = sources.load_mnist_like("mnist", tmp_path, "train")
    cache = next((tmp_path / "modebench" / "cache").glob("mnist-train-*.pt"))
    _overwrite_inside(cache)
    with pytest.warns(DamagedFileWarning, match="fails its SHA-256 checksum.*rebuilding it from the raw files"):
        again = sources.load_mnist_like("mnist", tmp_path, "train")
    assert torch.equal(first["x"], again["x"]) and torch.equal(first["y"], again["y"])
    # a cache written before checksum footers (a SHA-256 per tensor) still loads, and is still checked
    old = {"data": first, "digests": {k: sources.tensor_digest(v) for k, v in first.items()}}
    torch.save(old, cache)
    assert torch.equal(sources.load_mnist_like("mnist", tmp_path, "train")["x"], first["x"])
    old["digests"]["x"] = "0" * 64
    torch.save(old, cache)
    with pytest.warns(DamagedFileWarning, match=r"fails its checksum \(x\)"):
        sources.load_mnist_like("mnist", tmp_path, "train")


# ---------------------------------------------------------------------------------------- 3. a crash leaves a record
def test_a_run_that_raises_leaves_a_failed_record_per_replica_and_the_leaderboard_counts_it(tmp_path, monkeypatch,
                                                                                           capsys):
    from sweeps import leaderboard as lb

    def crash(self, step):
        if step == 50:
            raise RuntimeError("out of cheese")

    monkeypatch.setattr(GANMethod, "on_step_end", crash)
    log = tmp_path / "run" / "run.log"
    with pytest.raises(RuntimeError, match="out of cheese"):
        _execute(tmp_path / "run", [*STEPS, "trainer.replicas=2"], log=log)
    records = load_results(tmp_path / "run")["records"]
    assert [(r["status"], r["seed"]) for r in records] == [("failed", 0), ("failed", 1)]
    assert records[0]["error"] == {"type": "RuntimeError", "message": "out of cheese", "log": str(log)}
    assert records[0]["group"]["method"] == "vanilla" and records[0]["config_hash"]
    capsys.readouterr()
    assert lb.main([str(tmp_path)]) == 0
    assert "| vanilla | 0 | 0 | 2 |" in capsys.readouterr().out  # n, diverged, failed
    monkeypatch.undo()
    assert [r["status"] for r in _execute(tmp_path / "run", [*STEPS, "trainer.replicas=2"])] == ["completed"] * 2


# -------------------------------------------------------------- 5. another training's results are never overwritten
def test_a_fixed_run_folder_with_another_training_setting_is_refused_before_anything(tmp_path):
    from engine.preflight import plan_jobs

    run_dir = tmp_path / "run"
    _execute(run_dir)
    before = (run_dir / "results.json").read_bytes()
    changed = [*STEPS, "trainer.steps=200"]
    with pytest.raises(ConfigError, match=r"another training configuration \(trainer.steps: 240 -> 200\).*kept"):
        _execute(run_dir, changed)
    with pytest.raises(ConfigError, match="choose another folder"):
        plan_jobs([*QUICK, *changed, f"hydra.run.dir={run_dir}"], multirun=False)
    assert (run_dir / "results.json").read_bytes() == before
    evaluation_only = _execute(run_dir, [*STEPS, "metrics.modes.std_threshold=4.0"])  # re-evaluated, not refused
    assert evaluation_only[0]["timing"]["steps"] == 240


# -------------------------------------------------------------------------------------------- 6. standard JSON
def _strict(text: str):
    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")
    return json.loads(text, parse_constant=refuse)


def test_results_are_standard_json_with_null_for_non_finite_values_and_old_files_still_read(tmp_path, monkeypatch):
    monkeypatch.setattr(GANMethod, "on_step_end", poison_replica_at(50))
    records = _execute(tmp_path / "run", [*STEPS, "trainer.replicas=2", "trainer.check_every=10"])
    assert [r["status"] for r in records] == ["completed", "diverged"]
    saved = _strict((tmp_path / "run" / "results.json").read_text())["records"]
    assert saved[1]["status"] == "diverged" and None in saved[1]["metrics"].values()  # NaN metrics -> null
    save_results(tmp_path / "inf", [{"status": "completed", "metrics": {"a": float("inf"), "b": [1.0, float("nan")]}}])
    assert _strict((tmp_path / "inf" / "results.json").read_text())["records"][0]["metrics"] == {"a": None,
                                                                                                "b": [1.0, None]}
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "results.json").write_text('{"records": [{"status": "diverged", "metrics": {"jsd": NaN}}]}')
    assert np.isnan(read_json(tmp_path / "old" / "results.json")["records"][0]["metrics"]["jsd"])


def test_the_cli_records_a_failed_single_run_and_exits_non_zero(tmp_path):
    run_dir = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "tests"))
    run_dir.mkdir()
    (run_dir / "explode").touch()
    proc = subprocess.run([sys.executable, "run.py", *QUICK, *STEPS, "method._target_=faults.FaultyMethod",
                           f"hydra.run.dir={run_dir}"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "RuntimeError: injected failure at step 10" in proc.stderr
    record = load_results(run_dir)["records"][0]
    assert record["status"] == "failed" and record["error"]["log"] == str(run_dir / "run.log")
    assert "RuntimeError: injected failure at step 10" in (run_dir / "run.log").read_text()
