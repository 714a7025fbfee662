"""The trainer's extras (engine/extras.py): linear learning-rate decay to 0 stepped after every step, the moving
average of G (gans/ema.py) used for evaluation, their checkpoint/resume (an interrupted and resumed run equals an
uninterrupted one, with DiffAugment's random state too), the record's ``training`` block and the neutral-default
hashing of the new settings."""
import pytest
import torch
from torch import nn

from conftest import QUICK, compose_run, interrupt_after
from core.errors import ConfigError
from engine.build import build_components
from engine.records import config_hash
from engine.run import execute
from engine.schedules import LinearDecay
from gans.ema import GeneratorEMA
from gans.method import GANMethod


pytestmark = pytest.mark.usefixtures("one_thread")


def test_linear_decay_reaches_zero_at_the_last_step():
    schedule = LinearDecay(total=200)
    assert schedule.factor(0) == 1.0 and schedule.factor(200) == 0.0
    assert schedule.factor(50) == pytest.approx(0.75) and schedule.factor(199) == pytest.approx(1 / 200)
    later = LinearDecay(total=100, start=0.5, end=0.9)
    assert [later.factor(t) for t in (10, 50, 70, 90, 95)] == pytest.approx([1.0, 1.0, 0.5, 0.0, 0.0])
    with pytest.raises(ConfigError, match="lr_decay_start"):
        LinearDecay(total=10, start=0.8, end=0.2)


def test_a_run_decays_every_optimiser_after_every_step_to_zero(tmp_path, monkeypatch):
    seen = []

    def record(self, step):  # after train_step, before the extras: the rate this step trained with
        seen.append((step, self.opt_g.param_groups[0]["lr"], self.opt_d.param_groups[0]["lr"]))

    monkeypatch.setattr(GANMethod, "on_step_end", record)
    cfg, choices = compose_run(QUICK + ["method=vanilla", "trainer.steps=40", "trainer.lr_decay=linear"])
    execute(cfg, choices, tmp_path / "run")
    base = cfg.gan.lr_g
    assert [lr for _, lr, _ in seen] == pytest.approx([base * (1 - t / 40) for t in range(40)])
    assert [lr for *_, lr in seen] == pytest.approx([cfg.gan.lr_d * (1 - t / 40) for t in range(40)])
    checkpoint = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    assert checkpoint["method"]["opt_g"]["param_groups"][0]["lr"] == 0.0  # after the last step
    assert checkpoint["method"]["opt_d"]["param_groups"][0]["lr"] == 0.0


def test_ema_follows_its_formula_with_a_copying_warm_up_and_copied_buffers():
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    ema = GeneratorEMA(net, decay=0.9, start=1)
    with torch.no_grad():
        net[0].weight.add_(1.0)
    net(torch.randn(8, 3))  # moves the running statistics
    ema.update(net, 1)  # warm-up: a copy
    assert torch.equal(ema.network[0].weight, net[0].weight)
    previous = ema.network[0].weight.clone()
    with torch.no_grad():
        net[0].weight.mul_(-2.0)
    ema.update(net, 2)
    torch.testing.assert_close(ema.network[0].weight, 0.9 * previous + 0.1 * net[0].weight)
    assert torch.equal(ema.network[1].running_mean, net[1].running_mean)
    assert not ema.network[0].weight.requires_grad

    class Holder:
        G = net

    holder = Holder()
    with ema.swapped_in(holder):
        assert holder.G is ema.network
    assert holder.G is net


def _image_run(extra):
    return QUICK + ["dataset=synthetic_cifar10", "dataset.n=64", "gan=sngan32", "gan.ngf=8", "gan.ndf=8",
                    "metrics=none", "trainer.batch_size=8", "trainer.update_scheme=alternating", "trainer.n_dis=2",
                    "trainer.steps=8", "trainer.ckpt_every=4", "trainer.lr_decay=linear", "trainer.ema_decay=0.8",
                    "augment=diffaugment", *extra]


def test_interrupted_and_resumed_equals_uninterrupted_with_schedule_ema_and_augmentation(tmp_path, monkeypatch):
    cfg, choices = compose_run(_image_run(["method=vanilla"]))
    straight = execute(cfg, choices, tmp_path / "straight")
    monkeypatch.setattr(GANMethod, "on_step_end", interrupt_after(5))  # a Ctrl-C at the end of step 5
    with pytest.raises(KeyboardInterrupt):
        execute(cfg, choices, tmp_path / "resumed")
    monkeypatch.undo()
    resumed = execute(cfg, choices, tmp_path / "resumed")
    assert resumed[0]["timing"]["steps"] == 8
    a = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=False)
    for part in ("G", "D"):
        for key, value in a["method"][part].items():
            assert torch.equal(value, b["method"][part][key]), f"{part}.{key}"
    for key, value in a["state"]["extras"]["ema"].items():
        assert torch.equal(value, b["state"]["extras"]["ema"][key]), f"ema.{key}"
    assert all(torch.equal(x, y) for x, y in zip(a["method"]["augment"]["generators"],
                                                 b["method"]["augment"]["generators"]))
    assert a["method"]["opt_d"]["param_groups"][0]["lr"] == 0.0
    training = straight[0]["training"]
    assert training["evaluated_generator"] == "ema" and training["ema_decay"] == 0.8
    assert training["augment"] == "diffaugment(color,translation,cutout)"
    assert training["speed"] == {"channels_last": False, "tf32_convolutions": False, "tf32_matmul": False,
                                 "compile": False, "autocast": "none"}


def test_evaluation_draws_from_the_averaged_generator(tmp_path, monkeypatch):
    used = []
    original = GANMethod.sample_from

    def spy(self, G, *args, **kwargs):
        used.append(G)
        return original(self, G, *args, **kwargs)

    monkeypatch.setattr(GANMethod, "sample_from", spy)
    cfg, choices = compose_run(QUICK + ["method=vanilla", "trainer.steps=20", "trainer.ema_decay=0.5"])
    execute(cfg, choices, tmp_path / "run")
    assert used and all(type(G).__name__ == "MLPGenerator" for G in used)
    checkpoint = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    ema_weight = checkpoint["state"]["extras"]["ema"]["net.layers.0.weight"]
    assert torch.equal(used[-1].net.layers[0].weight.detach(), ema_weight)  # the average, not the trained G
    assert not torch.equal(ema_weight, checkpoint["method"]["G"]["net.layers.0.weight"])


def test_new_settings_at_their_defaults_hash_like_configs_without_them():
    from omegaconf import OmegaConf

    cfg, _ = compose_run(QUICK + ["method=vanilla"])
    resolved = OmegaConf.to_container(cfg, resolve=True)
    without = {**resolved, "trainer": {k: v for k, v in resolved["trainer"].items()
                                       if k not in ("lr_decay", "lr_decay_start", "lr_decay_end", "ema_decay",
                                                    "ema_start", "channels_last", "tf32", "compile", "autocast")}}
    assert config_hash(resolved) == config_hash(without)
    with_none = {**resolved, "augment": {"_target_": "gans.augment.Augmentation"}}
    assert config_hash(with_none) == config_hash(resolved)
    changed, _ = compose_run(QUICK + ["method=vanilla", "trainer.lr_decay=linear"])
    assert config_hash(OmegaConf.to_container(changed, resolve=True)) != config_hash(resolved)


def test_bad_settings_are_refused_before_training():
    for overrides, words in [(["trainer.lr_decay=cosine"], "lr_decay"), (["trainer.ema_decay=1.5"], "ema_decay"),
                             (["trainer.autocast=fp16"], "autocast"), (["trainer.channels_last=maybe"], "channels_last"),
                             (["method=mwugan", "trainer.ema_decay=0.9"], "ema_decay"),
                             (["augment=diffaugment"], "augment=none")]:
        cfg, _ = compose_run(QUICK + overrides)
        with pytest.raises(ConfigError, match=words):
            build_components(cfg)
