"""Discriminator rejection sampling as coded in the Dia-GAN repository: acceptance against analytic values."""
import math

import numpy as np
import pytest
import torch

from gans.drs import RejectionSampler


def _two_valued(low_fraction=0.5, low=-math.log(4.0), high=0.0, replicas=2):
    """A 'generator' of labelled candidates (S, m, 1) with P(label 1) = 1 - low_fraction and an LDR per label.

    The candidates of a batch alternate exactly, so every batch holds the same proportions (the percentile is then
    the same in every batch and the acceptance probabilities are analytic)."""
    state = {"calls": 0}

    def draw(m):
        state["calls"] += 1
        n_low = int(round(low_fraction * m))
        labels = torch.cat([torch.zeros(n_low), torch.ones(m - n_low)])
        return labels.reshape(1, m, 1).expand(replicas, m, 1).clone()

    def ldr(x):
        return torch.where(x[..., 0] > 0.5, torch.full_like(x[..., 0], high), torch.full_like(x[..., 0], low))

    return draw, ldr


def test_a_constant_discriminator_accepts_everything_without_the_percentile_shift():
    drs = RejectionSampler(gamma=0.0, batch_size=100, burn_in=2)
    draw = lambda m: torch.randn(3, m, 2)  # noqa: E731
    ldr = lambda x: torch.full(x.shape[:2], 1.7)  # noqa: E731
    out = drs.sample(draw, ldr, 500, torch.Generator().manual_seed(0))
    assert out.shape == (3, 500, 2)
    assert all(a > 0.999 for a in drs.last_acceptance)  # σ(F) = 1 - O(ε)


def test_the_percentile_shift_accepts_half_of_a_constant_discriminator():
    drs = RejectionSampler(batch_size=256, burn_in=2)  # gamma = the 80th percentile of F per batch
    draw = lambda m: torch.randn(2, m, 2)  # noqa: E731
    ldr = lambda x: torch.zeros(x.shape[:2])  # noqa: E731
    drs.sample(draw, ldr, 4000, torch.Generator().manual_seed(1))
    for rate in drs.last_acceptance:  # F - gamma = 0 for everyone: sigma(0) = 1/2
        assert abs(rate - 0.5) < 4 * math.sqrt(0.25 / 8000)


def test_acceptance_probabilities_are_analytic():
    drs = RejectionSampler(gamma=0.0)
    ldr = torch.tensor([[0.0, -math.log(4.0), -math.log(10.0)]])
    p = drs.accept_probability(ldr, torch.tensor([0.0]))
    expected = [math.exp(v) / (1 + math.exp(v) * (1 - math.exp(-1e-6))) for v in ldr[0].tolist()]
    np.testing.assert_allclose(p[0].numpy(), expected, rtol=1e-9)  # ~ exp(ℓ - M): 1, 1/4, 1/10
    # the percentile rule: with 3 of 10 values at the top, the 80th percentile of F is F(top) -> sigma(0) there
    shifted = RejectionSampler(percentile=80.0)
    batch = torch.tensor([[0.0] * 3 + [-1.0] * 7])
    p = shifted.accept_probability(batch, torch.tensor([0.0]))
    f = lambda a: a - math.log1p(-math.exp(a - 1e-6))  # noqa: E731
    gamma = np.percentile([f(0.0)] * 3 + [f(-1.0)] * 7, 80)
    expected = [1 / (1 + math.exp(-(f(v) - gamma))) for v in batch[0].tolist()]
    np.testing.assert_allclose(p[0].numpy(), expected, rtol=1e-9)
    assert p[0, 0].item() == pytest.approx(0.5)


@pytest.mark.parametrize("gamma", [0.0, None])
def test_rejection_in_proportion_on_a_two_valued_discriminator(gamma):
    """Half the candidates have ℓ = M, half ℓ = M - log 4: plain DRS (gamma 0) accepts them at rates 1 and 1/4;
    with the 80th-percentile shift the top half is accepted at 1/2 and the bottom at sigma(F_low - F_top)."""
    draw, ldr = _two_valued()
    drs = RejectionSampler(gamma=gamma, batch_size=200, burn_in=1)
    out = drs.sample(draw, ldr, 6000, torch.Generator().manual_seed(2))
    f = lambda a: a - math.log1p(-math.exp(a - 1e-6))  # noqa: E731
    if gamma == 0.0:
        p_high, p_low = 1 / (1 + 1 - math.exp(-1e-6)), 0.25 / (1 + 0.25 * (1 - math.exp(-1e-6)))
    else:
        p_high, p_low = 0.5, 1 / (1 + math.exp(-(f(-math.log(4.0)) - f(0.0))))
    expected_share_low = p_low / (p_low + p_high)  # share of low-LDR samples among the accepted
    for r in range(out.shape[0]):
        share = (out[r, :, 0] < 0.5).double().mean().item()
        tolerance = 4 * math.sqrt(expected_share_low * (1 - expected_share_low) / 6000) + 1e-4
        assert abs(share - expected_share_low) < tolerance
        rate = drs.last_acceptance[r]
        assert abs(rate - 0.5 * (p_high + p_low)) < 0.02


def test_a_replica_that_rejects_everything_is_filled_and_warned_about():
    drs = RejectionSampler(gamma=50.0, batch_size=50, burn_in=1, max_candidates=3)
    draw = lambda m: torch.randn(2, m, 1)  # noqa: E731
    ldr = lambda x: torch.stack([torch.zeros(x.shape[1]), torch.full((x.shape[1],), float("nan"))])  # noqa: E731
    with pytest.warns(UserWarning, match="replica 0"):
        out = drs.sample(draw, ldr, 100, torch.Generator().manual_seed(3))
    assert out.shape == (2, 100, 1)
    assert drs.last_acceptance[1] == 1.0  # non-finite LDRs are accepted: DRS cannot judge them
