"""Every config composes and instantiates; bad configs fail fast with a message naming the fix."""
import subprocess
import sys

import pytest
from hydra.utils import instantiate

from engine import build as run
from conftest import QUICK, ROOT, compose, compose_run
from core.errors import ConfigError
from engine.records import RESULTS_FILE
from engine.trainer import CHECKPOINT_FILE

GROUPS = ["dataset", "gan", "loss", "method", "sampler", "trainer", "metrics", "logger"]


def _options(group):
    return sorted(p.stem for p in (ROOT / "conf" / group).glob("*.yaml"))


@pytest.mark.parametrize("group", GROUPS)
def test_every_option_composes_and_instantiates(group):
    for option in _options(group):
        cfg, choices = compose_run([f"{group}={option}"])
        assert choices[group] == option
        if group == "metrics":
            run.Evaluator(cfg.metrics)
        else:
            assert instantiate(cfg[group]) is not None


def test_every_experiment_composes_builds_and_names_itself():
    for option in _options("experiment"):
        cfg, _ = compose_run([f"experiment={option}"])
        run.build_components(cfg)
        assert cfg.experiment_name == option


def test_default_run_is_the_rls_ring_setting():
    cfg, choices = compose_run([])
    assert (choices["dataset"], choices["method"], choices["sampler"], choices["gan"]) == ("ring", "rls_discr", "rls_discr", "mlp")
    assert cfg.trainer.steps == 30000 and cfg.trainer.batch_size == 64
    assert cfg.gan.lr_g == cfg.gan.lr_d == 1e-3 and list(cfg.gan.betas) == [0.5, 0.999]


def test_method_sampler_defaults_yield_to_the_command_line():
    cfg, choices = compose_run(["method=rls_gauss", "sampler=uniform"])
    assert choices["sampler"] == "uniform" and cfg.sampler._target_.endswith("UniformSampler")


@pytest.mark.parametrize("overrides, message", [
    (["sampler.sigma=-1", "method=rls_gauss"], "sigma"),
    (["sampler.gamma=0"], "gamma"),
    (["trainer.steps=0"], "trainer.steps"),
    (["trainer.n_dis=5"], "alternating"),
    (["trainer.update_scheme=sideways"], "trainer.update_scheme"),
    (["trainer.batch_size=63", "gan.z_dim=0"], "z_dim"),
])
def test_bad_values_raise_config_errors(overrides, message):
    cfg, _ = compose_run(QUICK + overrides)
    with pytest.raises(Exception) as info:
        run.build_components(cfg)
    text = str(info.value) + str(getattr(info.value, "__cause__", ""))
    assert message in text


def test_unknown_key_in_a_config_file_lists_the_valid_keys():
    from omegaconf import open_dict

    cfg, _ = compose_run(QUICK)
    with open_dict(cfg):
        cfg.sampler.gama = 1e-3
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['gama'\].*valid keys.*gamma"):
        run.build_components(cfg)


def test_replicas_need_a_replicable_gan():
    class OneReplicaGAN:
        supports_replicas = False

        def check_data(self, kind, shape):
            pass

    cfg, _ = compose_run(QUICK + ["trainer.replicas=4"])
    parts = run.build_components(cfg)
    parts.gan = OneReplicaGAN()
    with pytest.raises(ConfigError, match="trainer.replicas=1"):
        run.check_compatibility(parts)


@pytest.mark.parametrize("args, expected", [
    (["dataset=rnig"], "rnig"),
    (["method=rls_gaus"], "rls_gaus"),
    (["trainer.stepz=3"], "stepz"),
    (["sampler.sigma=-1", "method=rls_gauss"], "sigma"),
])
def test_cli_errors_name_the_problem_before_any_work(args, expected, tmp_path):
    proc = subprocess.run([sys.executable, "run.py", *args, "logger=none", f"hydra.run.dir={tmp_path}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert expected in proc.stderr
    # refused before training: nothing was checkpointed or recorded (speed itself is a benchmark's business)
    assert not list(tmp_path.rglob(CHECKPOINT_FILE)) and not list(tmp_path.rglob(RESULTS_FILE))
    if args[0].startswith("dataset="):
        assert "ring" in proc.stderr and "grid" in proc.stderr  # the valid choices are listed


def test_mlp_refuses_data_of_the_wrong_shape():
    from gans.mlp import MLPGAN

    with pytest.raises(ConfigError, match="flat vectors"):
        MLPGAN().check_data("toy", (1, 28, 28))
    with pytest.raises(ConfigError, match="models"):
        MLPGAN().check_data("image", (2,))
    cfg, _ = compose_run(["dataset=cube3d"])
    assert run.build_components(cfg).dataset.sample_shape == (3,)


@pytest.mark.parametrize("option", _options("rls"))
def test_the_rls_group_sets_both_image_samplers(option):
    from omegaconf import OmegaConf

    values = OmegaConf.load(ROOT / "conf" / "rls" / f"{option}.yaml")
    cls, _ = compose_run([f"rls={option}", "sampler=rls_class"])
    discr, _ = compose_run([f"rls={option}", "sampler=rls_discr"])
    assert (cls.sampler.k, cls.sampler.gamma) == (values["k"], values["gamma"])
    assert (discr.sampler.sketch_dim, discr.sampler.gamma) == (values["k"], values["gamma"])


def test_without_an_rls_block_the_samplers_keep_their_own_defaults():
    cls, _ = compose_run(["sampler=rls_class"])
    discr, _ = compose_run(["sampler=rls_discr"])
    assert "rls" not in cls and (cls.sampler.k, cls.sampler.gamma) == (25, 1e-4)
    assert (discr.sampler.sketch_dim, discr.sampler.gamma) == (None, 1e-3)
    for preset, k in (("rls_mnist", 10), ("rls_mnist012", 25), ("rls_mnist012_cpu", 25)):
        cfg, _ = compose_run([f"experiment={preset}", "method=rls_discr"])
        assert (cfg.sampler.sketch_dim, cfg.sampler.gamma) == (k, 1e-4)


def test_methods_inherit_the_vanilla_step_and_the_drs_block():
    vanilla, _ = compose_run(["method=vanilla"])
    drs, _ = compose_run(["method=drs"])
    for option in _options("method"):
        cfg, _ = compose_run([f"method={option}"])
        assert cfg.method.regularizers.keys() <= {"bures"} and cfg.method.pack == (2 if option == "pacgan" else 1)
    for option, enabled in (("gold", False), ("topk", False), ("diagan", True)):
        cfg, _ = compose_run([f"method={option}"])
        assert dict(cfg.method.drs, enabled=True) == dict(drs.method.drs) and cfg.method.drs.enabled == enabled
    assert vanilla.method.regularizers == {} and drs.method.drs.enabled


@pytest.mark.parametrize("table", ["rls_table1", "diw_table1"])
def test_a_tables_rows_are_listed_once_in_its_sweep_spec(table):
    """The experiment preset holds one cell's fixed setting (its default dataset and method are cells of the
    table); the datasets and methods of the table are the sweep spec's, not a Hydra sweep of the preset."""
    import yaml

    spec = yaml.safe_load((ROOT / "sweeps" / f"{table}.yaml").read_text())
    cfg = compose([f"experiment={table}"])
    assert not cfg.hydra.sweeper.params
    assert cfg.hydra.runtime.choices.dataset in spec["datasets"]
    assert spec["experiment"] == table and cfg.experiment_name == table


def test_the_dia_gan_presets_share_the_toy_networks():
    toy, _ = compose_run(["experiment=diagan_toy"])
    minority, _ = compose_run(["experiment=diagan_minority"])
    assert toy.gan == minority.gan and toy.gan.z_dim == 2 and list(toy.gan.g_hidden) == [256, 256, 256]
    for key in ("batch_size", "update_scheme", "n_dis"):
        assert toy.trainer[key] == minority.trainer[key]
    assert (toy.method.k, minority.method.k) == (1.0, 0.3)  # each keeps its own method settings
