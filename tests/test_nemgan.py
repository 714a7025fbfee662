"""NEMGAN and its baselines (InfoGAN, ClusterGAN): prior learning with a perfect inverter, every method through
run.py on toy data and the offline MNIST, checkpointed priors, and the settings refused before training."""
import pytest
import torch

from conftest import QUICK, build_method, compose_run
from core.errors import ConfigError
from data_helpers import TINY_EVALUATOR, shared_root
from engine.build import build_components
from engine.run import execute
from gans.inverters import InverterOutput

TOY_SUPERVISION = ["method.supervision.size=80", "method.supervision.draw=stratified", "method.supervision.start=0"]


def test_prior_learning_with_a_frozen_perfect_inverter_recovers_the_mode_weights():
    """NEMGAN-P's α update alone (G, D and the inverter untouched): the inverter is replaced by the exact nearest-mode
    classifier of the ring; the learned priors converge to the ring's mode weights (4 minority modes at 0.05x)."""
    method, data = build_method(["method=nemgan_p", *TOY_SUPERVISION, "method.prior_learning.start=0",
                                 "method.prior_learning.lr=0.02", "method.prior_learning.batch_size=512",
                                 "trainer.batch_size=512"], replicas=2)
    centers = data.centers
    method.invert = lambda x: InverterOutput(x, 50.0 * torch.nn.functional.one_hot(
        torch.cdist(x, centers.expand(x.shape[0], *centers.shape)).argmin(-1), 8).float())
    frozen = [p.detach().clone() for p in [*method.G.parameters(), *method.D.parameters()]]
    tail = []
    for step in range(500):
        if step == 250:  # converged: a smaller step, and the iterates' average, against the batches' noise
            method.opt_prior.param_groups[0]["lr"] = 0.004
        method.last_batch = type("LastBatch", (), {"real": method.real_batch()[1]})()
        method.prior_step(step)
        if step >= 250:
            tail.append(method.latent.logits.detach().clone())
    learned = torch.softmax(torch.stack(tail).mean(0), -1)
    true = data.observed_weights
    assert (learned - true).abs().max() < 0.01
    assert ((learned[:, :4] - true[:4]).abs() / true[:4]).max() < 0.3  # the minority modes' 1.2% within 30%
    assert all(torch.equal(p, before) for p, before in zip([*method.G.parameters(), *method.D.parameters()], frozen))
    assert method.prior_trajectory[0][0] == 0 and len(method.prior_trajectory) == 5


TOY = {
    "nemgan_v": ["method=nemgan_v"],
    "nemgan_v-am-l1": ["method=nemgan_v", "method.inverter.head=am_softmax", "method.reconstruction_norm=l1"],
    "nemgan_s": ["method=nemgan_s", *TOY_SUPERVISION],
    "nemgan_p": ["method=nemgan_p", *TOY_SUPERVISION, "method.prior_learning.start=10"],
    "nemgan_p-alternating": ["method=nemgan_p", *TOY_SUPERVISION, "method.prior_learning.start=10",
                             "trainer.update_scheme=alternating", "trainer.n_dis=2"],
    "infogan": ["method=infogan", "gan.z_dim=30"],
    "infogan_s": ["method=infogan_s", "gan.z_dim=30", *TOY_SUPERVISION],
    "clustergan_s": ["method=clustergan_s", "gan.z_dim=30", *TOY_SUPERVISION],
}


@pytest.mark.parametrize("name", sorted(TOY))
def test_latent_methods_run_on_toy_data_with_replicas(tmp_path, name):
    cfg, choices = compose_run(QUICK + TOY[name] + ["trainer.steps=40", "metrics=latent_toy", "trainer.replicas=2",
                                                    "metrics.mode_classes.n_per_mode=50", "metrics.n_samples=500"])
    records = execute(cfg, choices, tmp_path / name)
    assert [r["status"] for r in records] == ["completed", "completed"]
    for r in records:
        m = r["metrics"]
        assert 0 <= m["inverter_acc"] <= 1 and 0 <= m["inverter_mode_nmi"] <= 1 and m["inverter_held_out"] == 4000
        assert len(m["prior_weights"]) == 8 and abs(sum(m["prior_weights"]) - 1) < 1e-5
        assert len(m["mode_class_counts"]) == 8 and all(sum(row) == 50 for row in m["mode_class_counts"])
        assert r["diagnostics"]["prior_weights"] == pytest.approx(m["prior_weights"])
    if "nemgan_p" in name:
        assert records[0]["metrics"]["prior_weights"] != pytest.approx([0.125] * 8, abs=1e-6)  # α moved
        assert records[0]["diagnostics"]["labelled"]["class_counts"] == [10] * 8
    else:
        assert records[0]["metrics"]["prior_weights"] == pytest.approx([0.125] * 8)  # fixed uniform priors


IMAGE = ["dataset=mnist2", "dataset.source=mnist5k", f"data.root={shared_root()}", *TINY_EVALUATOR,
         "trainer.steps=4", "trainer.batch_size=16", "metrics=latent_images", "metrics.n_samples=64",
         "metrics.mode_classes.n_per_mode=8", "metrics.fid=null", "metrics.clustering.n_init=1",
         "metrics.inverter_clusters.n_init=1", "method.supervision.size=20", "method.supervision.start=0",
         "method.supervision.every=2"]


@pytest.mark.parametrize("overrides", [
    ["gan=nemgan_conv", "method=nemgan_p", "method.prior_learning.start=1", "loss=wgan_gp"],
    ["gan=dcgan", "gan.z_dim=50", "method=clustergan_s", "dataset=mnist5"],
    ["gan=dcgan", "gan.z_dim=74", "method=infogan_s"],
    ["gan=mlp_image", "trainer.replicas=2", "method=nemgan_s", "method.inverter.arch=mlp"],
])
def test_latent_methods_run_on_the_offline_mnist(tmp_path, overrides):
    cfg, choices = compose_run(QUICK + IMAGE + overrides)
    records = execute(cfg, choices, tmp_path / "run")
    for record in records:
        m = record["metrics"]
        assert record["status"] == "completed" and record["timing"]["steps"] == 4
        k, held_out = (5, 5 * 400) if "dataset=mnist5" in overrides else (2, 2 * 100)  # the test split, oversampled
        assert len(m["mode_map"]) == k and m["inverter_held_out"] == held_out
        assert record["diagnostics"]["labelled"]["size"] == 20


def _code_loss_gradients(trains_inverter: bool):
    """Gradients of NEMGAN's code loss on one generated batch: (to the batch, to the inverter's parameters), and those
    of its reconstruction term alone, for mode_loss_trains_inverter = ``trains_inverter``."""
    from gans.latent_losses import reconstruction_loss
    from gans.method import Batch

    method, _ = build_method(["method=nemgan_s", *TOY_SUPERVISION,
                              f"method.mode_loss_trains_inverter={str(trains_inverter).lower()}"], replicas=2)
    codes = method.latent.sample_codes(16, torch.Generator().manual_seed(3))
    fake = method.G(codes.z).detach().requires_grad_(True)
    params = list(method.inverter.parameters())

    def grad(loss, wrt):  # a parameter the loss does not reach has gradient 0
        return [torch.zeros_like(w) if g is None else g
                for w, g in zip(wrt, torch.autograd.grad(loss.sum(), wrt, allow_unused=True))]

    grads = grad(method.code_loss(Batch(None, None, fake), codes), [fake, *params])
    rec = method.reconstruction_weight * reconstruction_loss(method.inverter(fake).latent, codes.z,
                                                             method.reconstruction_norm)
    return grads[0], grads[1:], grad(rec, params)


def test_the_mode_term_can_train_the_generator_alone():
    """mode_loss_trains_inverter=false: the generated batch gets the whole code loss's gradient (as with true), the
    inverter only its reconstruction term's; with true the inverter also gets the mode term's."""
    fake_true, inv_true, rec_true = _code_loss_gradients(True)
    fake_false, inv_false, rec_false = _code_loss_gradients(False)
    assert torch.allclose(fake_true, fake_false, atol=1e-7) and fake_false.abs().sum() > 0
    assert all(torch.allclose(g, r, atol=1e-7) for g, r in zip(inv_false, rec_false))
    assert not all(torch.allclose(g, r, atol=1e-7) for g, r in zip(inv_true, rec_true))


def test_learned_priors_are_checkpointed_per_replica():
    method, _ = build_method(["method=nemgan_p", *TOY_SUPERVISION, "method.prior_learning.start=0"], replicas=2)
    for step in range(5):
        method.train_step(step)
    state = method.state_dict()
    assert state["latent"]["logits"].shape == (2, 8)
    again, _ = build_method(["method=nemgan_p", *TOY_SUPERVISION, "method.prior_learning.start=0"], replicas=2)
    again.load_state_dict(state)
    assert torch.equal(again.latent.logits, method.latent.logits) and again.latent.logits.requires_grad
    assert again.prior_trajectory == method.prior_trajectory


@pytest.mark.parametrize("overrides, words", [
    (["method=nemgan_v", "dataset=grid", "gan.z_dim=10"], "raise gan.z_dim to at least 25"),
    (["method=nemgan_p", "method.supervision=null"], "prior_learning needs supervision"),
    (["method=nemgan_v", "prior=gaussian"], "needs a mode prior"),
    (["method=vanilla", "metrics=latent_toy"], "use method=nemgan_v"),
    (["method=nemgan_s", "gan.prior.modes=4"], "set gan.prior.modes=8"),
    (["method=nemgan_s", "method.supervision.size=5"], "no sample of class"),
    (["method=nemgan_s", "+method.supervision.sise=5"], "unknown key"),
    (["method=infogan", "method.continuous_codes=40"], "raise gan.z_dim"),
    (["method=nemgan_v", "method.mode_loss_trains_inverter=false"], "set method.supervision"),
])
def test_impossible_settings_fail_before_training(overrides, words):
    cfg, _ = compose_run(QUICK + overrides)
    with pytest.raises(ConfigError, match=words):
        build_method_from(cfg)


def build_method_from(cfg):
    from engine.build import build_method as build

    return build(cfg, replicas=1)


def test_supervision_needs_dataset_labels():
    from dataclasses import replace

    from engine.build import check_compatibility

    cfg, _ = compose_run(QUICK + ["method=nemgan_s"])
    parts = build_components(cfg)
    parts.dataset.provides = frozenset({"mixture"})  # a dataset without class labels
    with pytest.raises(ConfigError, match=r"needs \['labels'\]"):
        check_compatibility(replace(parts))
