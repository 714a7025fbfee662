"""Paper numbers (sweeps/paper/*.yaml), the Welch test, and the ours-vs-paper table (sweeps/compare.py, paper_report.py)."""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from sweeps import compare as cmp
from sweeps import leaderboard as lb
from sweeps.paper import PaperFormatError, load_paper, welch_from_stats, welch_test
from sweeps.records import deduplicate, load_records

REPO = Path(__file__).resolve().parents[1]
TABLE1 = REPO / "sweeps" / "paper" / "rls_table1.yaml"


# ------------------------------------------------------------------------------------------ paper numbers


def test_table1_numbers_load_and_line_up_with_our_methods_and_datasets():
    paper = load_paper(TABLE1)
    assert paper.experiment == "rls_table1" and paper.runs == 10
    assert paper.metrics == {"nb_modes": "Nb modes", "hq_fraction": "% in 3σ"}
    assert paper.datasets == ["ring", "grid"]
    methods = ["vanilla", "pacgan", "bures", "rls_gauss", "rls_discr", "iwgan", "iwmmdgan", "mwugan", "rls_mwugan",
               "rls_bures_gauss", "rls_bures_discr"]
    for dataset in ("ring", "grid"):
        assert [r.method for r in paper.rows_for(dataset)] == methods
        assert (REPO / "conf" / "dataset" / f"{dataset}.yaml").exists()
    for r in paper.rows:
        assert (REPO / "conf" / "method" / f"{r.method}.yaml").exists(), r.method
        assert set(r.values) == {"nb_modes", "hq_fraction"}
    # spot checks against the published table (REFERENCE.md §1.5)
    assert paper.row("ring", "vanilla").values == {"nb_modes": (5.0, 1.1), "hq_fraction": (0.92, 0.02)}
    assert paper.row("grid", "rls_bures_discr").values["nb_modes"] == (24.4, 0.92)
    assert paper.row("grid", "iwmmdgan").values["hq_fraction"] == (0.03, 0.05)
    assert paper.row("ring", "mwugan").values["nb_modes"] == (7.9, 0.3)
    assert {r.method for r in paper.rows if r.proposed} == {"rls_mwugan", "rls_bures_gauss", "rls_bures_discr"}
    conf = (REPO / "conf" / "experiment" / "rls_table1.yaml").read_text()
    assert "experiment_name: rls_table1" in conf


def test_the_welch_test_on_the_published_numbers_reproduces_the_papers_stars():
    paper = load_paper(TABLE1)
    comp = cmp.compare([], [], paper)
    computed = {(r.dataset, r.method, m) for t in comp.tables.values() for r in t for m in comp.metrics
                if r.cells[m].paper_star}
    printed = {(r.dataset, r.method, m) for r in paper.rows for m in r.starred}
    assert printed == {("ring", "vanilla", "hq_fraction"), ("grid", "bures", "hq_fraction"),
                       ("grid", "rls_bures_discr", "nb_modes")}
    assert computed == printed


def test_timings_table_loads():
    paper = load_paper(REPO / "sweeps" / "paper" / "rls_table5.yaml")
    assert paper.row("ring", "vanilla").values["train_seconds"] == (45.0, 1.0)
    assert paper.row("grid", "mwugan").values["train_seconds"] == (1225.0, 8.0)


@pytest.mark.parametrize("text, message", [
    ("source: x\nexperiment: e\nmetrics: {a: A}\nrows:\n  - {method: m, label: M, dataset: d, a: [1, 2]}\n", "proposed"),
    ("source: x\nexperiment: e\nmetrics: {a: A}\nrows:\n  - {method: m, label: M, proposed: true, dataset: d, a: [1]}\n",
     "[mean, std]"),
    ("source: x\nexperiment: e\nmetrics: {a: A}\nrows:\n  - {method: m, label: M, proposed: no, dataset: d, b: [1, 1]}\n",
     "unknown key"),
    ("experiment: e\nmetrics: {a: A}\nrows: []\n", "source"),
])
def test_malformed_paper_files_are_refused(tmp_path, text, message):
    path = tmp_path / "paper.yaml"
    path.write_text(text)
    with pytest.raises(PaperFormatError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_paper(path)


# ------------------------------------------------------------------------------------------------- Welch


@pytest.mark.parametrize("seed, n_a, n_b, shift", [(0, 10, 10, 0.5), (1, 10, 7, 0.0), (2, 5, 12, -0.3), (3, 3, 3, 2.0)])
def test_welch_agrees_with_scipy(seed, n_a, n_b, shift):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(shift, 1.0, n_a), rng.normal(0.0, 2.5, n_b)
    ours = welch_test(a, b)
    ref = stats.ttest_ind(a, b, equal_var=False, alternative="greater")
    assert ours.t == pytest.approx(ref.statistic, rel=1e-12)
    assert ours.p == pytest.approx(ref.pvalue, rel=1e-10)
    assert ours.df == pytest.approx(ref.df, rel=1e-10)
    summary = welch_from_stats(a.mean(), a.std(ddof=1), n_a, b.mean(), b.std(ddof=1), n_b)
    assert summary.p == pytest.approx(ref.pvalue, rel=1e-10)


@pytest.mark.filterwarnings("ignore:Precision loss occurred:RuntimeWarning")
def test_welch_with_zero_variance_follows_scipy():
    same = welch_test([8, 8, 8], [8, 8, 8])
    assert math.isnan(same.p) and not same.significant()
    better = welch_test([8, 8, 8], [7, 7, 7])
    ref = stats.ttest_ind([8, 8, 8], [7, 7, 7], equal_var=False, alternative="greater")
    assert better.p == ref.pvalue == 0.0 and better.significant()
    assert math.isnan(welch_test([1.0], [0.0, 1.0]).p)


# ------------------------------------------------------------------------------- the comparison table


def rec(seed, method, dataset, nb, hq, experiment="rls_table1"):
    return {"status": "completed", "seed": seed,
            "group": {"experiment": experiment, "dataset": dataset, "gan": "mlp", "loss": "ns", "method": method},
            "metrics": {"nb_modes": nb, "hq_fraction": hq, "mode_counts": [1, 2]},
            "timing": {"train_seconds": 1.0}, "config_hash": "h", "variant": "v1"}


OURS = {  # (method, dataset) -> per-seed (nb_modes, hq_fraction)
    ("vanilla", "ring"): [(5, 0.93), (4, 0.95), (6, 0.94)],
    ("rls_bures_discr", "ring"): [(8, 0.90), (8, 0.91), (8, 0.89)],
    ("mwugan", "ring"): [(8, 0.80), (7, 0.82), (8, 0.81)],
    ("rls_bures_discr", "grid"): [(24, 0.77), (25, 0.79), (24, 0.78)],
    ("bures", "grid"): [(10, 0.80), (11, 0.82), (12, 0.81)],
    ("diagan", "grid"): [(20, 0.5), (21, 0.5)],  # a method the paper does not report
}


@pytest.fixture
def sweep(tmp_path):
    root = tmp_path / "multirun"
    for (method, dataset), values in OURS.items():
        folder = root / dataset / method
        folder.mkdir(parents=True)
        (folder / "results.json").write_text(json.dumps(
            {"records": [rec(s, method, dataset, nb, hq) for s, (nb, hq) in enumerate(values)]}))
        (folder / "plots").mkdir()
        (folder / "plots" / "samples_seed0.png").write_bytes(b"\x89PNG fake")
        (folder / "plots" / "modes_seed0.png").write_bytes(b"\x89PNG fake")
    other = root / "other"
    other.mkdir()
    (other / "results.json").write_text(json.dumps({"records": [rec(0, "vanilla", "ring", 1, 0.1, experiment="default")]}))
    return root


def _comparison(root):
    records, _ = deduplicate(load_records([root]))
    return cmp.compare_records(records, paper=load_paper(TABLE1), metrics=["nb_modes", "hq_fraction"])


def test_our_rows_line_up_with_the_paper_rows(sweep):
    comp = _comparison(sweep)
    ring = {r.method: r for r in comp.tables["ring"]}
    assert [r.method for r in comp.tables["ring"]][:3] == ["vanilla", "pacgan", "bures"]
    van = ring["vanilla"].cells["nb_modes"]
    assert van.mean == 5.0 and van.n == 3 and van.paper == (5.0, 1.1)  # the 'default' experiment run is not mixed in
    assert ring["pacgan"].row is None and ring["pacgan"].cells["nb_modes"].paper == (5.4, 1.4)
    grid = {r.method: r for r in comp.tables["grid"]}
    assert grid["diagan"].proposed is None and grid["diagan"].paper is None  # appended after the paper rows
    assert [r.method for r in comp.tables["grid"]][-1] == "diagan"
    assert grid["rls_bures_discr"].sample_plot.name == "samples_seed0.png" and grid["rls_bures_discr"].plot_seed == 0


def test_flags_bold_and_stars(sweep):
    comp = _comparison(sweep)
    ring = {r.method: r.cells for r in comp.tables["ring"]}
    grid = {r.method: r.cells for r in comp.tables["grid"]}
    # bures on grid: 11 modes vs the paper's 16.7 (0.9): outside mean ± 2 std; vanilla ring 5 vs 5.0 (1.1): inside
    assert grid["bures"]["nb_modes"].outside is True and ring["vanilla"]["nb_modes"].outside is False
    assert ring["mwugan"]["hq_fraction"].outside is True  # 0.81 vs 0.86 (0.02)
    # best ring Nb modes: rls_bures_discr 8.0, not mwugan (mean of 8, 7, 8 = 7.67)
    assert ring["rls_bures_discr"]["nb_modes"].best and not ring["mwugan"]["nb_modes"].best
    assert ring["vanilla"]["hq_fraction"].best
    # Welch on our values: ring % in 3σ, vanilla 0.94 (0.01) vs rls_bures_discr 0.90 (0.01) -> competitor wins
    a, b = [0.93, 0.95, 0.94], [0.90, 0.91, 0.89]
    p = stats.ttest_ind(a, b, equal_var=False, alternative="greater").pvalue
    assert p < 0.05 and ring["vanilla"]["hq_fraction"].star and not ring["rls_bures_discr"]["hq_fraction"].star
    test = next(t for t in comp.tests if t.dataset == "ring" and t.metric == "hq_fraction" and t.source == "ours")
    assert test.winner == "competitor" and test.result.p == pytest.approx(p)
    # grid Nb modes: rls_bures_discr 24.33 vs the best competitor bures 11 (diagan is not a paper row)
    gtest = next(t for t in comp.tests if t.dataset == "grid" and t.metric == "nb_modes" and t.source == "ours")
    assert gtest.competitor.method == "bures" and gtest.winner == "proposed" and grid["rls_bures_discr"]["nb_modes"].star
    assert grid["rls_bures_discr"]["nb_modes"].best and not grid["diagan"]["nb_modes"].best
    assert ring["rls_bures_discr"]["nb_modes"].paper_best and ring["iwgan"]["nb_modes"].paper_best  # ties: all bold


def test_markdown_csv_and_html_outputs(sweep, tmp_path):
    out = tmp_path / "board" / "t1"
    rc = lb.main([str(sweep), "--paper", str(TABLE1), "--out", str(out)])
    assert rc == 0
    md = out.with_suffix(".md").read_text()
    assert "| GAN | — ⚠ | 5.0 (1.0) | 5 (1.1) |" in md  # no steps recorded: not the paper's budget
    assert "**0.9400 (0.0100)**\\*" in md  # best and significantly better than the best proposed row
    assert "| PacGAN2 | — | — | 5.4 (1.4) |" in md and "RLS BuresGAN Discr. (proposed)" in md
    assert "10.5 (1.0)" not in md and "11.0 (1.0) †" in md  # bures grid: outside the paper's mean ± 2 std
    assert "| diagan |" in md and "are ours only (not in the paper)" in md  # an extra row, explained
    rows = list(csv.DictReader(io.StringIO(out.with_suffix(".csv").read_text())))
    bures = next(r for r in rows if r["dataset"] == "grid" and r["method"] == "bures")
    assert float(bures["nb_modes_mean"]) == 11.0 and float(bures["nb_modes_paper_mean"]) == 16.7
    assert bures["nb_modes_outside_2std"] == "True" and bures["hq_fraction_paper_star"] == "True"
    assert len(rows) == 23  # 22 paper rows + diagan
    page = out.with_suffix(".html").read_text()
    assert "<table class='sortable'>" in page and "t1_files/grid_rls_bures_discr_samples.png" in page
    assert (tmp_path / "board" / "t1_files" / "ring_vanilla_modes.png").exists()


def test_leaderboard_without_paper_is_unchanged(sweep, capsys):
    assert lb.main([str(sweep), "--metrics", "nb_modes"]) == 0
    text = capsys.readouterr().out
    assert "### dataset: ring" in text and "(paper)" not in text
