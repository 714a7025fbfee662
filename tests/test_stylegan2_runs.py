"""gan=stylegan2 end to end through run.py on CPU, at 32x32 with small widths, on small CIFAR-shaped test files:
every method that trains image GANs takes a few steps, and an interrupted run resumed from its checkpoint ends
exactly like an uninterrupted one (w_avg, noise buffers, the R1 schedule and the optimisers included)."""
import pytest
import torch

from conftest import QUICK, compose_run, interrupt_after
from data_helpers import write_cifar10
from engine.run import execute
from gans.method import GANMethod

SMALL_STYLEGAN2 = ["gan=stylegan2", "gan.fmap_base=32", "gan.fmap_max=16", "gan.z_dim=16", "gan.w_dim=16",
                   "gan.mapping_layers=2"]
TINY_CIFAR_EVALUATOR = ["dataset.evaluator.arch.depth=8", "dataset.evaluator.arch.width=4",
                        "dataset.evaluator.epochs=1", "dataset.evaluator.batch_size=16",
                        "dataset.evaluator.floor.torchvision=0.0"]
# the methods that train image GANs (the others are defined on toy mixtures: rls_gauss, rls_bures_gauss,
# rls_mwugan, veegan, diwgan)
METHODS = {
    "vanilla": [], "pacgan": [], "bures": [], "rls_discr": ["sampler.sketch_dim=25", "sampler.gamma=1e-4"],
    "rls_class": ["sampler.reduction=sketch"], "rls_bures_discr": ["sampler.sketch_dim=25"],
    "rls_bures_class": ["sampler.reduction=sketch"], "iwgan": [], "iwmmdgan": [],
    "mwugan": ["method.num_generators=2", "method.kde_samples=64"],
    "drs": ["method.drs.burn_in=2", "method.drs.batch_size=32"], "gold": [], "topk": [],
    "diagan": ["method.record_every=1", "method.window=2", "trainer.steps=5", "method.drs.burn_in=2",
               "method.drs.batch_size=32"],
    "unrolled": ["method.unroll_steps=1"],
}


@pytest.fixture(autouse=True)
def one_thread():
    """The runs use trainer.threads=1 (small convolutions are much faster on one thread of a shared CPU); the
    session's thread count is restored afterwards."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    with pytest.MonkeyPatch.context() as mp:
        write_cifar10(root, per_class_train=40, per_class_test=4, monkeypatch=mp)
        yield root


def overrides(root, *extra):
    return QUICK + [f"data.root={root}", "dataset=cifar10_06", *SMALL_STYLEGAN2, *TINY_CIFAR_EVALUATOR,
                    "trainer.steps=3", "trainer.batch_size=8", "trainer.threads=1", "metrics=mnist_classes",
                    "metrics.n_samples=32", *extra]


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_image_method_trains_stylegan2_through_run(cifar_root, tmp_path, method):
    cfg, choices = compose_run(overrides(cifar_root, f"method={method}", *METHODS[method]))
    (record,) = execute(cfg, choices, tmp_path / method)
    assert record["status"] == "completed" and record["group"]["gan"] == "stylegan2"
    assert sum(record["metrics"]["class_counts"]) + record["metrics"]["other_count"] == 32


def test_the_alternating_scheme_with_lazy_r1_and_path_length(cifar_root, tmp_path):
    cfg, choices = compose_run(overrides(cifar_root, "method=rls_discr", "trainer.update_scheme=alternating",
                                         "gan.d_reg_every=2", "gan.pl_weight=2", "gan.g_reg_every=2"))
    (record,) = execute(cfg, choices, tmp_path / "run")
    assert record["status"] == "completed"


def test_interrupted_and_resumed_equals_uninterrupted(cifar_root, tmp_path, monkeypatch):
    settings = overrides(cifar_root, "method=rls_discr", "trainer.steps=6", "trainer.update_scheme=alternating",
                         "gan.d_reg_every=4", "gan.pl_weight=2", "gan.g_reg_every=3", "augment=diffaugment",
                         "trainer.ema_decay=0.9")
    cfg, choices = compose_run(settings)
    straight = execute(cfg, choices, tmp_path / "straight")
    saved = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=False)
    final = saved["method"]

    monkeypatch.setattr(GANMethod, "on_step_end", interrupt_after(2))  # Ctrl-C during step 2
    with pytest.raises(KeyboardInterrupt):
        execute(cfg, choices, tmp_path / "resumed")
    monkeypatch.undo()
    half = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=False)
    r1, path_length = half["method"]["regularizers"]
    assert half["state"]["step"] == 3 and r1 == {"d_updates": 3} and path_length["g_updates"] == 3
    resumed = execute(cfg, choices, tmp_path / "resumed")
    resaved = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=False)
    again = resaved["method"]
    assert resumed[0]["metrics"] == straight[0]["metrics"]
    for net in ("G", "D"):
        for key, value in final[net].items():
            torch.testing.assert_close(again[net][key], value, rtol=0, atol=0, msg=f"{net}.{key}")
    ema, ema_again = saved["state"]["extras"]["ema"], resaved["state"]["extras"]["ema"]  # the EMA of G (trainer's)
    for key, value in ema.items():
        torch.testing.assert_close(ema_again[key], value, rtol=0, atol=0, msg=f"EMA {key}")
    assert straight[0]["training"]["evaluated_generator"] == "ema" and "diffaugment" in straight[0]["training"]["augment"]
    assert any(k.endswith("w_avg") for k in final["G"]) and any(k.endswith("noise_const") for k in final["G"])
    assert again["regularizers"][0] == final["regularizers"][0] == {"d_updates": 6}
    torch.testing.assert_close(again["regularizers"][1]["mean_length"], final["regularizers"][1]["mean_length"])


def test_r1_trains_another_gan_through_the_regularizer_group(cifar_root, tmp_path):
    settings = overrides(cifar_root, "method=vanilla", "+regularizer@method.regularizers.r1=r1",
                         "method.regularizers.r1.every=2")
    settings = [o for o in settings if not o.startswith("gan")] + ["gan=dcgan32"]
    cfg, choices = compose_run(settings)
    (record,) = execute(cfg, choices, tmp_path / "run")
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)["method"]
    assert record["group"]["gan"] == "dcgan32" and state["regularizers"] == [{"d_updates": 3}]
