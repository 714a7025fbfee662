"""The Rumi losses against direct computations, and the optima of Lemmas 3.1 / 3.2 checked numerically on a discrete
support: D at its pointwise optimum (itself checked by a scalar minimisation), the generator's objective minimised
over p_g on the simplex (scipy SLSQP), compared with the paper's closed forms where they are densities and with the
constrained (KKT) optimum derived in docs/rumi.md where they are not."""
import numpy as np
import pytest
import torch
from scipy.optimize import brentq, minimize, minimize_scalar
from scipy.special import expit, xlogy

from core.errors import ConfigError
from gans.rumi_losses import RumiLeastSquares, RumiStandard

CODE = dict(a=-0.5, b_pos=2.0, b_neg=-2.0, beta_pos=2.5, beta_neg=0.5)
PAPER_LABELS = dict(a=0.0, b_pos=2.0, b_neg=-1.0, beta_pos=2.5, beta_neg=0.5)


def _outs(seed=0, shape=(3, 7)):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g, dtype=torch.float64) * 2 for _ in range(3)]


# ------------------------------------------------------------------------------------------- the losses
def test_rumi_lsgan_terms_equal_a_direct_computation():
    loss = RumiLeastSquares(a=-0.5, b_pos=2, b_neg=-2, c=2, beta_pos=2.5, beta_neg=0.5)
    pos, neg, fake = _outs()
    w = torch.rand(3, 7, dtype=torch.float64)
    p, n, f = (t.numpy() for t in (pos, neg, fake))
    expected_d = 2.5 * ((p - 2) ** 2).mean(1) + 0.5 * ((n + 2) ** 2).mean(1) + ((f + 0.5) ** 2).mean(1)
    np.testing.assert_allclose(loss.discriminator_loss(pos, neg, fake).numpy(), expected_d, rtol=1e-12)
    np.testing.assert_allclose(loss.g_loss(fake).numpy(), ((f - 2) ** 2).mean(1), rtol=1e-12)
    np.testing.assert_allclose(loss.positive_term(pos, w).numpy(), 2.5 * (w.numpy() * (p - 2) ** 2).mean(1))


@pytest.mark.parametrize("form", ["paper", "code"])
def test_rumi_sgan_terms_equal_binary_cross_entropies(form):
    alpha_neg = -0.2 if form == "paper" else 0.5
    loss = RumiStandard(alpha_pos=0.5 if form == "paper" else 2.5, alpha_neg=alpha_neg, form=form)
    pos, neg, fake = _outs(1)
    d = [expit(t.numpy()) for t in (pos, neg, fake)]  # D = sigmoid(logit)
    neg_term = -np.log(1 - d[1]) if form == "paper" else -np.log(d[1])  # label 0 (paper) or 1 (code)
    expected = (-loss.alpha_pos * np.log(d[0]).mean(1) + alpha_neg * neg_term.mean(1) - np.log(1 - d[2]).mean(1))
    np.testing.assert_allclose(loss.discriminator_loss(pos, neg, fake).numpy(), expected, rtol=1e-10)
    np.testing.assert_allclose(loss.g_loss(fake).numpy(), -np.log(d[2]).mean(1), rtol=1e-10)


@pytest.mark.parametrize("kwargs, field", [
    (dict(b_pos=-2.0, b_neg=-1.0), "loss.b_pos"),  # b+ <= b-
    (dict(a=0.5), "loss.a"),  # a > (b+ + b-)/2 = 0
    (dict(beta_neg=0.0), "loss.beta_neg"),
    (dict(beta_pos=-1.0), "loss.beta_pos"),
])
def test_rumi_lsgan_refuses_values_outside_lemma_3_2(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        RumiLeastSquares(**{**CODE, **kwargs})


@pytest.mark.parametrize("kwargs, field", [
    (dict(alpha_pos=1.5), "loss.alpha_pos"),
    (dict(alpha_pos=-0.1), "loss.alpha_pos"),
    (dict(alpha_pos=0.5, alpha_neg=-0.6), "loss.alpha_neg"),  # < alpha_pos - 1
    (dict(form="code", alpha_neg=-0.2), "loss.form=paper"),
    (dict(form="label1"), "loss.form"),
])
def test_rumi_sgan_refuses_values_outside_lemma_3_1(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        RumiStandard(**kwargs)


# ------------------------------------------------------------------------------------------- Lemma 3.2
def _simplex_minimum(objective, k, extra=()):
    """argmin of a convex objective over the probability simplex of k points (SLSQP from the uniform point)."""
    cons = [{"type": "eq", "fun": lambda q: q.sum() - 1.0}, *extra]
    res = minimize(objective, np.full(k, 1.0 / k), method="SLSQP", bounds=[(0.0, 1.0)] * k, constraints=cons,
                   options={"ftol": 1e-14, "maxiter": 1000})
    assert res.success, res.message
    return res.x


def _ls_discriminator(p_pos, p_neg, p_g, a, b_pos, b_neg, beta_pos, beta_neg):
    num = b_pos * beta_pos * p_pos + b_neg * beta_neg * p_neg + a * p_g
    return num / (beta_pos * p_pos + beta_neg * p_neg + p_g)


def _ls_generator_objective(p_pos, p_neg, labels, c):
    def objective(p_g):
        d = _ls_discriminator(p_pos, p_neg, p_g, **labels)
        return float(((labels["beta_pos"] * p_pos + labels["beta_neg"] * p_neg + p_g) * (d - c) ** 2).sum())
    return objective


def _lemma_3_2_closed_form(p_pos, p_neg, a, b_pos, b_neg, beta_pos, beta_neg):
    """The paper's eq. 5 with its η⁺, η⁻ as printed."""
    den = beta_pos * (a - b_pos) + beta_neg * (a - b_neg)
    eta_pos = ((1 + beta_neg) * (a - b_pos) - beta_neg * (a - b_neg)) / den
    eta_neg = ((1 + beta_pos) * (a - b_neg) - beta_pos * (a - b_pos)) / den
    return beta_pos * eta_pos * p_pos + beta_neg * eta_neg * p_neg


def _constrained_optimum(p_pos, p_neg, a, b_pos, b_neg, beta_pos, beta_neg):
    """docs/rumi.md: p_g = [β⁺(b⁺ − κ)p⁺ + β⁻(b⁻ − κ)p⁻]₊ / (κ − a) with κ in (a, b⁺) making it sum to 1."""
    def mass(kappa):
        return np.clip(beta_pos * (b_pos - kappa) * p_pos + beta_neg * (b_neg - kappa) * p_neg, 0, None) / (kappa - a)
    kappa = brentq(lambda k: mass(k).sum() - 1.0, a + 1e-9, b_pos - 1e-12)
    return mass(kappa)


P_POS_OVERLAP = np.array([0.25, 0.25, 0.2, 0.15, 0.1, 0.05])
P_NEG_OVERLAP = np.array([0.15, 0.2, 0.3, 0.2, 0.1, 0.05])  # inside the positives' support, p- <= 1.9 p+
P_POS_PARTIAL = np.array([0.4, 0.3, 0.3, 0.0, 0.0, 0.0])
P_NEG_PARTIAL = np.array([0.0, 0.0, 0.2, 0.3, 0.3, 0.2])  # shares point 2; points 3-5 hold negatives only
P_POS_DISJOINT = np.array([0.5, 0.3, 0.2, 0.0, 0.0, 0.0])
P_NEG_DISJOINT = np.array([0.0, 0.0, 0.0, 0.25, 0.25, 0.5])


def test_the_optimal_discriminator_minimises_the_lsgan_loss_pointwise():
    labels = CODE
    p_g = np.array([0.1, 0.3, 0.2, 0.1, 0.2, 0.1])
    d_star = _ls_discriminator(P_POS_PARTIAL, P_NEG_PARTIAL, p_g, **labels)
    for i in range(6):
        cost = lambda d: (labels["beta_pos"] * P_POS_PARTIAL[i] * (d - labels["b_pos"]) ** 2
                          + labels["beta_neg"] * P_NEG_PARTIAL[i] * (d - labels["b_neg"]) ** 2
                          + p_g[i] * (d - labels["a"]) ** 2)
        assert minimize_scalar(cost).x == pytest.approx(d_star[i], abs=1e-6)


@pytest.mark.parametrize("labels, c", [(CODE, 2.0), (PAPER_LABELS, 1.5), (CODE, 0.0)])
def test_lemma_3_2_closed_form_is_the_optimum_where_it_is_a_density(labels, c):
    closed = _lemma_3_2_closed_form(P_POS_OVERLAP, P_NEG_OVERLAP, **labels)
    assert (closed >= 0).all() and closed.sum() == pytest.approx(1.0)
    numeric = _simplex_minimum(_ls_generator_objective(P_POS_OVERLAP, P_NEG_OVERLAP, labels, c), 6)
    np.testing.assert_allclose(numeric, closed, atol=2e-4)  # c does not move the optimum


def test_lemma_3_2_mixture_case_with_a_positive_negative_weight():
    """Labels far below both real labels give η⁻ > 0: the optimum mixes the negatives in (7/11 p+ + 4/11 p-)."""
    labels = dict(a=-5.0, b_pos=1.0, b_neg=0.0, beta_pos=1.0, beta_neg=1.0)
    closed = _lemma_3_2_closed_form(P_POS_DISJOINT, P_NEG_DISJOINT, **labels)
    np.testing.assert_allclose(closed, 7 / 11 * P_POS_DISJOINT + 4 / 11 * P_NEG_DISJOINT, atol=1e-12)
    numeric = _simplex_minimum(_ls_generator_objective(P_POS_DISJOINT, P_NEG_DISJOINT, labels, 1.0), 6)
    np.testing.assert_allclose(numeric, closed, atol=2e-4)


@pytest.mark.parametrize("labels", [CODE, PAPER_LABELS])
@pytest.mark.parametrize("p_pos, p_neg", [(P_POS_PARTIAL, P_NEG_PARTIAL), (P_POS_DISJOINT, P_NEG_DISJOINT)])
def test_lemma_3_2_where_the_closed_form_is_negative_the_constrained_optimum_holds(labels, p_pos, p_neg):
    closed = _lemma_3_2_closed_form(p_pos, p_neg, **labels)
    assert closed.min() < -0.05  # negative wherever only negatives live: not a density
    numeric = _simplex_minimum(_ls_generator_objective(p_pos, p_neg, labels, 2.0), 6)
    np.testing.assert_allclose(numeric, _constrained_optimum(p_pos, p_neg, **labels), atol=3e-4)
    assert numeric[p_pos == 0].max() < 1e-4  # no mass where only negatives live
    if not (p_pos * p_neg).any():  # disjoint supports: the optimum is exactly the positives
        np.testing.assert_allclose(numeric, p_pos, atol=3e-4)


def test_lemma_3_2_with_a_small_positive_weight_the_optimum_puts_mass_on_the_negatives():
    """β⁺ below the bound of docs/rumi.md ((a − b⁻)(1 + β⁺) <= β⁺(b⁺ − a)): the truncated formula is no longer
    optimal; the true optimum spends mass on negative-only points."""
    labels = {**PAPER_LABELS, "beta_pos": 0.5}
    numeric = _simplex_minimum(_ls_generator_objective(P_POS_DISJOINT, P_NEG_DISJOINT, labels, 1.5), 6)
    assert numeric[P_POS_DISJOINT == 0].sum() > 0.05


# ------------------------------------------------------------------------------------------- Lemma 3.1
def _sgan_objective(p_pos, p_neg, alpha_pos, alpha_neg, form):
    """The min-max value at D*, V = E+ α⁺ log D* + (p_g-weighted and negative terms): what G minimises."""
    def objective(p_g):
        if form == "paper":  # negatives with the fake label: D* = α⁺p⁺ / (α⁺p⁺ + p_g + α⁻p⁻)
            r, q = alpha_pos * p_pos, p_g + alpha_neg * p_neg
        else:  # negatives with the real label: D* = (α⁺p⁺ + α⁻p⁻) / (... + p_g)
            r, q = alpha_pos * p_pos + alpha_neg * p_neg, p_g
        t = r + q
        return float((xlogy(r, r) - xlogy(r, t) + xlogy(q, q) - xlogy(q, t)).sum())
    return objective


@pytest.mark.parametrize("alpha_pos, alpha_neg", [(0.5, -0.2), (0.8, -0.2), (1.0, 0.0), (0.5, 0.3)])
def test_lemma_3_1_closed_form_is_the_optimum(alpha_pos, alpha_neg):
    p_pos, p_neg = P_POS_OVERLAP, P_NEG_OVERLAP
    # the value is defined where p_g + α⁻p⁻ >= 0 (the negatives' weight may be negative)
    domain = [{"type": "ineq", "fun": lambda q: q + alpha_neg * p_neg}]
    numeric = _simplex_minimum(_sgan_objective(p_pos, p_neg, alpha_pos, alpha_neg, "paper"), 6, domain)
    closed = (1 + alpha_neg) * p_pos - alpha_neg * p_neg
    assert (closed >= 0).all()
    np.testing.assert_allclose(numeric, closed, atol=3e-4)


def test_lemma_3_1_with_a_positive_negative_weight_and_disjoint_supports_avoids_the_negatives():
    """α⁻ > 0 (allowed by the lemma): the closed form (1 + α⁻)p⁺ − α⁻p⁻ is negative on the negatives; the
    constrained optimum is p⁺ there."""
    numeric = _simplex_minimum(_sgan_objective(P_POS_DISJOINT, P_NEG_DISJOINT, 0.5, 0.3, "paper"), 6)
    np.testing.assert_allclose(numeric, P_POS_DISJOINT, atol=3e-4)


def test_lemma_3_1_code_form_learns_the_weighted_mixture():
    numeric = _simplex_minimum(_sgan_objective(P_POS_DISJOINT, P_NEG_DISJOINT, 2.5, 0.5, "code"), 6)
    np.testing.assert_allclose(numeric, (2.5 * P_POS_DISJOINT + 0.5 * P_NEG_DISJOINT) / 3.0, atol=3e-4)
