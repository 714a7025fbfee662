"""The runner and trainer: reproducibility, resume, replica independence, divergence, skipping."""
import json

import pytest
import torch

from conftest import QUICK, compose_run, interrupt_after, poison_replica_at
from engine.build import build_components
from engine.run import execute
from gans.method import GANMethod, RunContext


def _execute(tmp_path, overrides, name="run"):
    cfg, choices = compose_run(QUICK + overrides)
    return execute(cfg, choices, tmp_path / name)


def test_same_seed_same_numbers(tmp_path):
    a = _execute(tmp_path, ["method=vanilla", "seed=3"], "a")
    b = _execute(tmp_path, ["method=vanilla", "seed=3"], "b")
    c = _execute(tmp_path, ["method=vanilla", "seed=4"], "c")
    assert a[0]["metrics"] == b[0]["metrics"]
    assert a[0]["metrics"] != c[0]["metrics"]
    assert a[0]["seed"] == 3 and a[0]["status"] == "completed"


def test_results_file_schema_and_skip_on_rerun(tmp_path, capsys):
    records = _execute(tmp_path, ["method=vanilla", "trainer.replicas=2", "seed=7"])
    saved = json.loads((tmp_path / "run" / "results.json").read_text())["records"]
    assert [r["seed"] for r in saved] == [7, 8]
    for key in ("status", "seed", "group", "metrics", "timing", "config", "config_hash", "variant", "env"):
        assert key in saved[0]
    assert saved[0]["group"] == {"experiment": "default", "dataset": "ring", "gan": "mlp", "loss": "ns",
                                 "method": "vanilla", "sampler": "uniform"}
    assert saved[0]["timing"]["steps"] == 300 and saved[0]["timing"]["train_seconds"] > 0
    assert saved[0]["variant"] == saved[1]["variant"]
    capsys.readouterr()
    again = _execute(tmp_path, ["method=vanilla", "trainer.replicas=2", "seed=7"])
    assert "skipping" in capsys.readouterr().out
    assert again == records


def test_interrupted_run_resumes_to_the_same_result(tmp_path, monkeypatch):
    overrides = ["method=rls_discr", "trainer.steps=240", "trainer.ckpt_every=100"]
    uninterrupted = _execute(tmp_path, overrides, "straight")

    monkeypatch.setattr(GANMethod, "on_step_end", interrupt_after(169))  # a Ctrl-C in the middle of step 169
    with pytest.raises(KeyboardInterrupt):
        _execute(tmp_path, overrides, "resumed")
    monkeypatch.undo()
    checkpoint = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)
    assert checkpoint["state"]["step"] == 170
    resumed = _execute(tmp_path, overrides, "resumed")
    assert resumed[0]["timing"]["steps"] == 240
    assert resumed[0]["metrics"] == uninterrupted[0]["metrics"]


def _method(cfg, seeds, data):
    parts = build_components(cfg)
    ctx = RunContext(data=data, gan=parts.gan, loss=parts.loss, sampler=parts.sampler, seeds=seeds,
                     batch_size=16, steps=1, device=torch.device("cpu"), generator=torch.Generator().manual_seed(0))
    parts.method.setup(ctx)
    return parts.method


@pytest.mark.parametrize("method_name, update", [("vanilla", "simultaneous"), ("vanilla", "alternating")])
def test_a_replica_steps_exactly_like_a_lone_run_given_the_same_batch(method_name, update):
    cfg, _ = compose_run(QUICK + [f"method={method_name}", f"trainer.update_scheme={update}"])
    data = build_components(cfg).dataset.load("cpu")
    pair = _method(cfg, [5, 6], data)
    lone = [_method(cfg, [5], data), _method(cfg, [6], data)]
    gen = torch.Generator().manual_seed(1)
    indices = torch.randint(data.n, (2, 16), generator=gen)
    noise = [torch.randn(2, 16, 25, generator=gen) for _ in range(2)]

    def feed(method, rows):
        calls = iter(noise)
        method.real_batch = lambda: (indices[rows], data.x[indices[rows]])
        method.noise = lambda n, generator=None: next(calls)[rows]

    feed(pair, slice(0, 2))
    for r, m in enumerate(lone):
        feed(m, slice(r, r + 1))
    for m in [pair, *lone]:
        m.train_step(0)
    for r, m in enumerate(lone):
        for a, b in zip(pair.G.parameters(), m.G.parameters()):
            torch.testing.assert_close(a[r:r + 1], b, rtol=1e-5, atol=1e-6)
        for a, b in zip(pair.D.parameters(), m.D.parameters()):
            torch.testing.assert_close(a[r:r + 1], b, rtol=1e-5, atol=1e-6)


def test_a_diverging_replica_is_recorded_and_the_others_finish(tmp_path, monkeypatch):
    monkeypatch.setattr(GANMethod, "on_step_end", poison_replica_at(50))
    records = _execute(tmp_path, ["method=rls_discr", "trainer.replicas=3"])
    assert [r["status"] for r in records] == ["completed", "diverged", "completed"]
    assert records[1]["diverged_at_step"] == 100
    assert records[1]["metrics"]["nonfinite_fraction"] == 1.0


def test_new_metrics_reevaluate_the_final_checkpoint_without_training(tmp_path):
    first = _execute(tmp_path, ["method=vanilla"])
    again = _execute(tmp_path, ["method=vanilla", "metrics.modes.std_threshold=4.0"])
    assert again[0]["config_hash"] != first[0]["config_hash"]
    assert abs(again[0]["timing"]["train_seconds"] - first[0]["timing"]["train_seconds"]) < 0.01  # not retrained
    assert again[0]["metrics"]["hq_fraction"] >= first[0]["metrics"]["hq_fraction"]
