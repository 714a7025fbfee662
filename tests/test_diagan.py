"""Dia-GAN: score formula and clipping vs numpy, the LDR store, the recorder, phases, resume across phases,
GOLD and top-k as coded."""
import os
import signal

import numpy as np
import pytest
import torch

from conftest import QUICK, build_method, compose_run
from engine.build import build_components
from engine.run import execute
from gans.diagan import (DiaGAN, LDRStore, discrepancy_score, group_means, ldr_statistics,
                         score_probabilities)
from gans.method import Batch


def _numpy_scores(logits, k, floor=0.01, ratio=50.0):
    """The Dia-GAN code's calculate_scores for one replica: clip_max_ratio(clip_min(m + k std_ddof1), 50)."""
    m = logits.mean(0)
    v = np.var(logits, axis=0, ddof=1)
    s = np.clip(m + k * np.std(logits, axis=0, ddof=1), floor, None)
    s = np.clip(s, None, s.min() * ratio)
    return m, v, s, s / s.sum()


@pytest.mark.parametrize("k", [0.0, 0.3, 5.0])
def test_scores_clipping_and_probabilities_match_a_direct_numpy_computation(k):
    rng = np.random.default_rng(0)
    logits = rng.normal(0.3, 1.0, size=(50, 3, 400))  # (snapshots, replicas, n)
    logits[:, 1] = rng.normal(-1.0, 0.01, size=(50, 400))  # a replica whose scores hit the 0.01 floor
    logits[:, 2, :5] += 1000.0  # a replica with outliers above the 50 x min cap
    ldrm, ldrv = ldr_statistics(torch.as_tensor(logits))
    score = discrepancy_score(ldrm, ldrv, k)
    probs = score_probabilities(score)
    for r in range(3):
        m, v, s, p = _numpy_scores(logits[:, r], k)
        np.testing.assert_allclose(ldrm[r].numpy(), m, rtol=1e-12)
        np.testing.assert_allclose(ldrv[r].numpy(), v, rtol=1e-12)
        np.testing.assert_allclose(score[r].numpy(), s, rtol=1e-12)
        np.testing.assert_allclose(probs[r].numpy(), p, rtol=1e-12)
    assert (score >= 0.01).all()
    assert (score.max(-1).values <= 50 * score.min(-1).values * (1 + 1e-12)).all()
    assert (score[1] == 0.01).any() and np.isclose(score[2].max(), 50 * score[2].min())  # both clips bind


def test_ldr_store_keeps_sample_order_and_only_the_window():
    store = LDRStore(capacity=3, replicas=2, n=4)
    for step in (100, 200, 300, 400, 500):
        values = torch.tensor([[step + i for i in range(4)], [-(step + i) for i in range(4)]], dtype=torch.float32)
        store.add(step, values)
    steps, snaps = store.window()
    assert steps == [300, 400, 500] and len(store) == 3  # the two oldest were overwritten
    assert snaps.shape == (3, 2, 4)
    assert snaps[:, 0].tolist() == [[s + i for i in range(4)] for s in (300, 400, 500)]
    assert snaps[:, 1].tolist() == [[-(s + i) for i in range(4)] for s in (300, 400, 500)]
    steps, snaps = store.window(350, 500)  # start <= step < end
    assert steps == [400] and snaps[0, 0, 3].item() == 403
    copy = LDRStore(capacity=3, replicas=2, n=4)
    copy.load_state_dict(store.state_dict())
    assert copy.window()[0] == [300, 400, 500]
    assert torch.equal(copy.window()[1], store.window()[1])
    half = LDRStore(capacity=2, replicas=1, n=3, dtype=torch.float16)
    assert half.nbytes == 2 * 3 * 2


def test_group_means_of_modes():
    values = torch.tensor([[1.0, 2.0, 3.0, 10.0]])
    labels = torch.tensor([0, 0, 1, 3])
    out = group_means(values, labels, 4)
    assert out[0, :2].tolist() == [1.5, 3.0] and np.isnan(out[0, 2].item()) and out[0, 3].item() == 10.0


def _method(overrides, replicas=2):
    return build_method(overrides, replicas)


def test_the_recorder_evaluates_every_sample_in_dataset_order_in_eval_mode():
    method, data = _method(["method=diagan"])
    modes = []
    handle = method.D.register_forward_hook(lambda module, args, out: modes.append(module.training))
    recorded = method.record_ldr()
    handle.remove()
    assert modes and not any(modes) and method.D.training  # eval mode while recording, restored after
    with torch.no_grad():
        direct = method.D(data.x.unsqueeze(0).expand(2, -1, -1))[0]
    assert recorded.shape == (2, data.n)
    torch.testing.assert_close(recorded, direct, rtol=1e-5, atol=1e-6)


def test_hinge_ldr_is_the_raw_output_and_ns_the_logit():
    from gans.losses import Hinge, NonSaturating

    out = torch.randn(2, 5)
    assert torch.equal(Hinge().ldr(out), out) and torch.equal(NonSaturating().ldr(out), out)


def test_phase_boundary_window_scores_and_sampler_swap():
    overrides = ["method=diagan", "trainer.steps=100", "method.record_every=10", "method.window=5"]
    method, data = _method(overrides)
    for step in range(100):
        method.train_step(step)
        if step + 1 == 80:
            assert method.phase == 2 and method.sampler is method.score_sampler and method.aux_D is not None
    b = method.boundary
    assert b["step"] == 80 and b["snapshot_steps"] == [30, 40, 50, 60, 70]
    # the probabilities of the swapped-in sampler are the numpy scores of the stored snapshots
    assert method.store.steps.count(None) == 0  # the ring buffer is full
    assert torch.allclose(method.score_sampler.probs, score_probabilities(b["score"].double()), rtol=1e-6)
    assert method.base_sampler is not method.sampler


def test_check_refuses_a_window_without_two_snapshots():
    from core.errors import ConfigError

    cfg, _ = compose_run(QUICK + ["method=diagan", "trainer.steps=150"])  # p1 = 120: one snapshot (100)
    with pytest.raises(ConfigError, match="record_every"):
        build_components(cfg)


def test_auxiliary_discriminator_starts_from_the_phase1_discriminator():
    method, data = _method(["method=diagan", "trainer.steps=100", "method.record_every=10", "method.window=5"])
    for step in range(79):
        method.train_step(step)
    d_before = {k: v.clone() for k, v in method.D.state_dict().items()}
    method.train_step(79)  # the step whose end is the boundary: aux D = a copy of D after it
    for k, v in method.aux_D.state_dict().items():
        assert torch.equal(v, method.D.state_dict()[k])
    assert not all(torch.equal(d_before[k], v) for k, v in method.D.state_dict().items())
    method.train_step(80)  # both are trained, on different batches: they diverge
    assert not all(torch.equal(v, method.D.state_dict()[k]) for k, v in method.aux_D.state_dict().items())


def _execute(tmp_path, overrides, name="run"):
    cfg, choices = compose_run(QUICK + overrides)
    return execute(cfg, choices, tmp_path / name)


@pytest.mark.parametrize("interrupt_at", [150, 260])  # before and after the phase boundary (240)
def test_resume_across_phases_gives_the_same_result(tmp_path, monkeypatch, interrupt_at):
    overrides = ["method=diagan", "trainer.ckpt_every=100", "method.record_every=20", "trainer.replicas=2"]
    straight = _execute(tmp_path, overrides, "straight")
    original = DiaGAN.on_step_end

    def interrupt(self, step):
        original(self, step)
        if step == interrupt_at:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(DiaGAN, "on_step_end", interrupt)
    with pytest.raises(KeyboardInterrupt):
        _execute(tmp_path, overrides, "resumed")
    monkeypatch.undo()
    resumed = _execute(tmp_path, overrides, "resumed")
    for a, b in zip(straight, resumed):
        assert a["metrics"] == b["metrics"]
        assert a["diagnostics"]["ldrv_per_mode"] == b["diagnostics"]["ldrv_per_mode"]


def test_gold_weights_are_the_raw_detached_fake_ldr_from_the_phase2_step():
    method, _ = _method(["method=gold"])
    assert method.start_step == 240
    fake_out = torch.tensor([[-2.0, 0.5], [1.0, -0.1]], requires_grad=True)
    batch = Batch(indices=None, real=None, fake=None, fake_out=fake_out)
    method.current_step = 239
    assert method.fake_weights(batch) is None
    method.current_step = 240
    weights = method.fake_weights(batch)
    assert torch.equal(weights, fake_out.detach()) and not weights.requires_grad
    assert (weights < 0).any()  # negative weights, as the code
    real_out = torch.zeros(2, 2)
    loss = method.discriminator_loss(Batch(None, torch.zeros(2, 2, 2), torch.zeros(2, 2, 2), real_out, fake_out))
    expected = torch.nn.functional.softplus(-real_out).mean(-1) + (torch.nn.functional.softplus(fake_out) * fake_out).mean(-1)
    torch.testing.assert_close(loss, expected)


def test_topk_keeps_the_decaying_fraction_of_the_largest_fake_outputs():
    method, data = _method(["method=topk"])
    epoch = method.steps_per_epoch
    assert epoch == int(np.ceil(data.n / 64))
    assert method.keep_rate(0) == 1.0 and method.keep_rate(epoch) == 0.99
    assert method.keep_rate(10 * epoch + 3) == pytest.approx(0.99 ** 10)
    assert method.keep_rate(1000 * epoch) == 0.5
    out = torch.tensor([[3.0, -1.0, 2.0, 0.0], [0.0, 1.0, 2.0, 3.0]])
    method.current_step = 100 * epoch  # rate 0.99^100 = 0.366 -> the 0.5 floor: keep 2 of 4
    loss = method.generator_adversarial_loss(Batch(None, None, None, fake_out=out))
    expected = torch.nn.functional.softplus(-torch.tensor([[3.0, 2.0], [3.0, 2.0]])).mean(-1)
    torch.testing.assert_close(loss, expected)


def test_diagnostics_and_plots_of_a_diagnosed_run(tmp_path):
    records = _execute(tmp_path, ["method=diagan", "method.diagnostics=true", "method.record_every=20",
                                  "plots.enabled=true", "trainer.replicas=2"])
    diag = records[1]["diagnostics"]
    assert diag["phase2_step"] == 240 and diag["score_snapshots"] == 11  # 20, 40, ..., 220
    assert len(diag["ldrm_per_mode"]) == 8 and len(diag["hq_counts_at_score_step"]) == 8
    assert 0 < diag["drs_acceptance"] <= 1
    assert diag["ldrm_per_mode_history"]["steps"][0] == 40 and diag["ldrm_per_mode_history"]["steps"][-1] == 300
    plots = tmp_path / "run" / "plots"
    for name in ("ldrm_modes_seed0.png", "ldrm_box_seed0.png", "scores_seed0.png", "weights_seed0.png"):
        assert (plots / name).exists(), name
