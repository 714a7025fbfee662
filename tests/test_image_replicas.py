"""Grouped seed replicas of the image GANs (gans/grouped.py): a 2-replica run equals two single runs with the same
seeds (same initial networks, same batches and noise -> same weights after several alternating steps, to float
tolerance, on CPU), for DCGAN, DCGAN32, SNGAN and SSGAN, with DiffAugment on.

The runs are in float64: grouped and single convolutions sum in different orders, and Adam's first steps turn
the rounding noise of gradients that are zero in exact arithmetic (a conv bias before batch norm) into steps of
order lr, so float32 runs agree only to ~lr after a step. In float64 that noise is 1e-16 and the comparison is
tight."""
import pytest
import torch

from conftest import QUICK, compose_run
from engine.build import build_components
from gans.grouped import build_replicas, replica_state
from gans.layers import seeded_generators
from gans.method import RunContext

CASES = {
    "dcgan": ["gan=dcgan", "dataset.size=28", "dataset.channels=1"],
    "dcgan32": ["gan=dcgan32", "gan.dropout=0.0"],  # dropout masks come from torch's global RNG, shared by replicas
    "sngan32": ["gan=sngan32", "gan.ngf=16", "gan.ndf=16"],
    "ssgan32": ["gan=ssgan32", "gan.ngf=16", "gan.ndf=16"],
}


@pytest.fixture(autouse=True)
def float64(one_thread):
    dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(dtype)


def _method(cfg, seeds, data):
    parts = build_components(cfg)  # fresh objects per run
    ctx = RunContext(data=data, gan=parts.gan, loss=parts.loss, sampler=parts.sampler, seeds=seeds, batch_size=4,
                     steps=2, device=torch.device("cpu"), generator=torch.Generator().manual_seed(0),
                     update_scheme="alternating", n_dis=2, augment=parts.augment)
    parts.method.setup(ctx)
    return parts.method


@pytest.mark.parametrize("name", [pytest.param("dcgan", marks=pytest.mark.slow),  # ~15 s of float64 convolutions
                                  "dcgan32", "sngan32", "ssgan32"])
def test_two_replicas_train_like_two_single_runs(name):
    cfg, _ = compose_run(QUICK + ["dataset=synthetic_cifar10", "dataset.n=64", "method=vanilla", "metrics=none",
                                  "augment=diffaugment", *CASES[name]])
    data = build_components(cfg).dataset.load("cpu")
    pair = _method(cfg, [5, 6], data)
    lone = [_method(cfg, [5], data), _method(cfg, [6], data)]
    gen = torch.Generator().manual_seed(1)
    steps, batch = 2, 4
    indices = [torch.randint(data.n, (2, batch), generator=gen) for _ in range(steps * 2)]
    noise = [torch.randn(2, batch, pair.ctx.gan.z_dim, generator=gen) for _ in range(steps * 3)]

    def feed(method, rows):
        batches, draws = iter(indices), iter(noise)

        def real_batch():
            idx = next(batches)[rows]
            return idx, data.as_float(data.x[idx]).double()

        method.real_batch = real_batch
        method.noise = lambda n, generator=None: next(draws)[rows]

    feed(pair, slice(0, 2))
    for r, m in enumerate(lone):
        feed(m, slice(r, r + 1))
    for step in range(steps):
        for m in [pair, *lone]:
            m.train_step(step)
    for r, m in enumerate(lone):
        for net in ("G", "D"):
            grouped, single = replica_state(getattr(pair, net), r), getattr(m, net).state_dict()
            assert grouped.keys() == single.keys()
            for key in single:
                torch.testing.assert_close(grouped[key], single[key], rtol=1e-7, atol=1e-10, msg=f"{net}.{key}")
    assert not torch.allclose(replica_state(pair.G, 0)[next(iter(pair.G.state_dict()))],
                              replica_state(pair.G, 1)[next(iter(pair.G.state_dict()))])  # independent replicas


def test_build_replicas_initialises_replica_r_like_a_lone_network_whatever_the_global_rng():
    from gans.sngan import SNGAN

    spec = SNGAN(ngf=8, ndf=8)
    torch.manual_seed(123)
    pair = spec.build_discriminator((3, 32, 32), seeded_generators([4, 9]))
    torch.manual_seed(7)
    lone = spec.build_discriminator((3, 32, 32), seeded_generators([9]))
    for key, value in lone.state_dict().items():
        assert torch.equal(replica_state(pair, 1)[key], value), key
    with pytest.raises(Exception):
        build_replicas(lambda s: None, [])
