"""benchmarks/nemgan_mode_probe.py --ceiling: what the RLS coverage rule gives samples of the true mixtures."""
import sys
from pathlib import Path

from scipy.stats import binom

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from nemgan_mode_probe import ceiling  # noqa: E402


def test_a_faithful_generator_scores_15_modes_on_grid_and_8_on_ring():
    """A 0.32% grid minority mode expects 32 of 10k samples, so the 50-sample rule almost never counts it (scipy's
    binomial tail, with the 98.9% of a 2-D Gaussian inside 3σ); the ring's 1.19% modes (119 samples) always count."""
    grid, ring = ceiling("grid", draws=20), ceiling("ring", draws=5)
    assert abs(grid["minority_expected"] - 10_000 * 0.05 / 15.5) < 1e-9
    p_counted = binom.sf(49, 10_000, 0.05 / 15.5 * 0.98889)
    assert p_counted < 0.002  # expected minority modes counted per draw: 10 x p < 0.02
    assert grid["nb_min"] >= 15 and grid["nb_mean"] < 15.5
    assert ring["nb_min"] == ring["nb_max"] == 8
    assert abs(grid["minority_hq"] - grid["minority_expected"] * 0.98889) < 2.0
