"""The records and rows every sweep table is built from (sweeps/records.py, sweeps/table.py), against brute force,
numpy and exact decimal rounding on random records."""
from __future__ import annotations

import itertools
import math
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import numpy as np
import pytest

from sweeps.records import GROUP_KEYS, Record, deduplicate, group_records
from sweeps.table import MISSING, default_metrics, format_mean_std, short_ids, summarise


def random_records(seed: int, n: int = 300) -> list[Record]:
    """Records over 2 datasets x 3 methods x 2 variants, seeds 0-5 with repeats, every status, missing and
    non-finite values, a list metric; file paths and mtimes with ties."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        group = ("exp", str(rng.choice(["ring", "grid"])), "mlp", "ns", str(rng.choice(["a", "b", "c"])))
        metrics = {"nb_modes": int(rng.integers(0, 9)), "mode_counts": [int(c) for c in rng.integers(0, 99, 4)]}
        hq = rng.choice([float(rng.uniform()), math.nan, None])
        if hq is not None:
            metrics["hq_fraction"] = hq
        status = str(rng.choice(["completed", "completed", "completed", "diverged", "failed"]))
        out.append(Record(group=group, variant=str(rng.choice(["v1", "v2"])), seed=int(rng.integers(0, 6)),
                          status=status, metrics=metrics, timing={"steps": 100}, path=Path(f"f{rng.integers(0, 4)}"),
                          mtime=float(rng.integers(0, 3)), index=i))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grouping_and_deduplication_match_brute_force(seed):
    records = random_records(seed)
    kept, superseded = deduplicate(records)
    keys = {(r.group, r.variant, r.seed) for r in records}
    assert len(kept) == len(keys) and len(kept) + len(superseded) == len(records)
    for key in keys:  # the newest file wins, then the later path, then the later position in the file
        same = [r for r in records if (r.group, r.variant, r.seed) == key]
        newest = max(same, key=lambda r: (r.mtime, str(r.path), r.index))
        assert [r for r in kept if (r.group, r.variant, r.seed) == key] == [newest]
    grouped = group_records(kept)
    assert list(grouped) == sorted({(r.group, r.variant) for r in kept})
    for (group, variant), members in grouped.items():
        assert members == [r for r in kept if r.group == group and r.variant == variant]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_row_statistics_match_numpy(seed):
    kept, _ = deduplicate(random_records(seed))
    rows = summarise(group_records(kept), ["nb_modes", "hq_fraction", "mode_counts"])
    assert len(rows) == len({(r.group, r.variant) for r in kept})
    for row in rows:
        members = [r for r in kept if r.group == row.group and r.variant == row.variant]
        done = [r for r in members if r.status == "completed"]
        assert (row.n_completed, row.n_diverged, row.n_failed) == (
            len(done), sum(r.status == "diverged" for r in members), sum(r.status == "failed" for r in members))
        assert row.key("method") == row.group[GROUP_KEYS.index("method")]
        for name in ("nb_modes", "hq_fraction"):
            values = np.array([r.metrics[name] for r in done if r.metrics.get(name) is not None], dtype=float)
            values = values[np.isfinite(values)]
            s = row.metrics[name]
            assert s.n == len(values) and s.values == values.tolist()
            if len(values) == 0:
                assert s.mean is None and s.std is None
                continue
            assert s.mean == pytest.approx(values.mean(), rel=1e-12)
            assert s.std is None if len(values) == 1 else s.std == pytest.approx(values.std(ddof=1), rel=1e-12)
        counts = np.array([r.metrics["mode_counts"] for r in done], dtype=float)
        if len(counts) > 1:
            np.testing.assert_allclose(row.metrics["mode_counts"].mean, counts.mean(axis=0), rtol=1e-12)
            np.testing.assert_allclose(row.metrics["mode_counts"].std, counts.std(axis=0, ddof=1), rtol=1e-12)


def test_rows_of_one_group_with_several_variants_are_told_apart():
    kept, _ = deduplicate(random_records(0))
    rows = summarise(group_records(kept), ["nb_modes"])
    for group, members in itertools.groupby(rows, key=lambda r: r.group):
        members = list(members)
        assert all(r.show_variant == (len(members) > 1) for r in members)
        assert len({r.variant_id for r in members}) == len(members)
    assert short_ids(["abcdefgh1", "abcdefgh2", "zz"]) == {"abcdefgh1": "abcdefgh1", "abcdefgh2": "abcdefgh2",
                                                           "zz": "zz"}


def test_default_metrics_put_the_paper_columns_first_and_skip_lists_and_diagnostics():
    rec = Record(("e", "d", "g", "l", "m"), "v", 0, "completed", {"zeta": 1.0, "jsd": 0.1, "nb_modes": 3,
                 "alpha": 2, "mode_counts": [1, 2], "nonfinite_fraction": 0.0, "flag": True}, {}, Path("p"), 0.0, 0)
    failed = Record(("e", "d", "g", "l", "m"), "v", 1, "failed", {"fid": 3.0}, {}, Path("p"), 0.0, 1)
    assert default_metrics([rec, failed]) == ["nb_modes", "jsd", "alpha", "zeta"]


def _decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


@pytest.mark.parametrize("seed", range(5))
def test_mean_std_cells_round_both_to_two_significant_digits_of_the_std(seed):
    rng = np.random.default_rng(seed)
    for _ in range(200):
        values = rng.normal(rng.uniform(-50, 50), 10.0 ** rng.uniform(-5, 3), int(rng.integers(2, 11)))
        mean, std = float(values.mean()), float(values.std(ddof=1))
        mean_text, std_text = format_mean_std(mean, std)[:-1].split(" (")
        decimals = _decimals(std_text)
        assert decimals == _decimals(mean_text)
        scaled = Decimal(std).scaleb(decimals)  # two significant digits of the std before rounding, within 0-6
        assert 10 <= scaled < 100 or (decimals == 0 and scaled >= 10) or (decimals == 6 and scaled < 10), std_text
        quantum = Decimal(1).scaleb(-decimals)  # exact rounding of the binary values, half to even
        assert Decimal(mean_text) == Decimal(mean).quantize(quantum, ROUND_HALF_EVEN)
        assert Decimal(std_text) == Decimal(std).quantize(quantum, ROUND_HALF_EVEN)


def test_cells_without_a_spread_or_a_value():
    assert format_mean_std(None, None) == MISSING and format_mean_std(math.nan, 1.0) == MISSING
    assert format_mean_std(8.0, 0.0) == "8 (0)" and format_mean_std(0.9, None) == f"0.900 ({MISSING})"
    assert format_mean_std(0.123456, math.nan) == f"0.123 ({MISSING})"
