"""The leaderboard's training curves (sweeps.curve_bands): mean and sample std over seeds per step checked against
numpy on synthetic history files (seeds with unequal steps, a seed without rows, a folder without history.csv), the
headline metric's choice, and the figure per dataset on the HTML pages and in the Markdown."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from test_leaderboard_page import Page

from engine.history import write_history
from sweeps import curve_bands as cb
from sweeps import leaderboard as lb
from sweeps.records import deduplicate, load_records

REPO = Path(__file__).resolve().parents[1]
T0 = 1_700_000_000


def _loss_d(seed, step):
    return 1.0 + 0.1 * seed + float(np.sin(step / 37.0))


def _loss_g(seed, step):
    return 2.0 - 0.05 * seed * seed + step / 1000.0


def _nb(seed, step):
    return float((seed + step // 100) % 8)


def _history(folder: Path, seeds_steps: dict[int, list[int]], evals: list[int]):
    rows = []
    for seed, steps in seeds_steps.items():
        for step in sorted(set(steps) | {s for s in evals if s <= max(steps)}):
            row = {"seed": seed, "step": step}
            if step in steps:
                row.update(loss_d=_loss_d(seed, step), loss_g=_loss_g(seed, step))
            if step in evals:
                row["nb_modes"] = _nb(seed, step)
            rows.append(row)
    write_history(folder, rows)


def _record(dataset, method, seed, key_metric="nb_modes", status="completed"):
    config = {"seed": seed, "trainer": {"steps": 300}, "metrics": {"key_metric": key_metric}}
    return {"status": status, "seed": seed, "variant": "v", "config": config,
            "group": {"experiment": "rls_table1", "dataset": dataset, "gan": "mlp", "loss": "ns", "method": method},
            "metrics": {"nb_modes": 3.0 + seed, "hq_fraction": 0.5}, "timing": {"steps": 300}}


def _run(folder: Path, records: list[dict]):
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps({"records": records}))
    os.utime(folder / "results.json", (T0, T0))


def _reference(fn, per_seed: dict[int, list[int]]):
    """(steps, mean, std, n) by numpy on a seeds x steps matrix with nan where a seed lacks the step."""
    steps = sorted({s for v in per_seed.values() for s in v})
    table = np.full((len(per_seed), len(steps)), np.nan)
    for i, (seed, own) in enumerate(per_seed.items()):
        for j, step in enumerate(steps):
            if step in own:
                table[i, j] = fn(seed, step)
    n = (~np.isnan(table)).sum(axis=0)
    std = np.array([np.nanstd(column, ddof=1) if k >= 2 else np.nan for column, k in zip(table.T, n)])
    return np.array(steps), np.nanmean(table, axis=0), std, n


def _sweep(root: Path) -> Path:
    """vanilla on ring: seeds 0-1 in one folder (300 steps), seed 2 in another (200 steps, other loss steps) and a
    seed 3 record whose folder's history has no rows for it; bures on ring: a folder without history.csv; vanilla on
    grid: seeds 0-1."""
    _run(root / "a", [_record("ring", "vanilla", 0), _record("ring", "vanilla", 1)])
    _history(root / "a", {0: list(range(20, 301, 20)), 1: list(range(20, 301, 20))}, [100, 200, 300])
    _run(root / "b", [_record("ring", "vanilla", 2), _record("ring", "vanilla", 3)])
    _history(root / "b", {2: list(range(25, 201, 25))}, [100, 200])
    _run(root / "c", [_record("ring", "bures", 0), _record("ring", "bures", 1)])
    _run(root / "d", [_record("grid", "vanilla", 0), _record("grid", "vanilla", 1)])
    _history(root / "d", {0: [50, 100], 1: [50, 100]}, [100])
    return root


RING_LOSS_STEPS = {0: list(range(20, 301, 20)), 1: list(range(20, 301, 20)), 2: list(range(25, 201, 25))}
RING_EVAL_STEPS = {0: [100, 200, 300], 1: [100, 200, 300], 2: [100, 200]}


def test_the_band_is_numpys_mean_and_sample_std_over_the_seeds_that_have_each_step():
    rng = np.random.default_rng(0)
    curves = [([0, 10, 20, 30], rng.normal(size=4)), ([10, 30, 40], rng.normal(size=3)), ([30], [float("nan")])]
    band = cb.mean_std_band(curves)
    assert band.steps.tolist() == [0, 10, 20, 30, 40] and band.n.tolist() == [1, 2, 1, 2, 1]
    ten = [curves[0][1][1], curves[1][1][0]]
    assert band.mean[1] == pytest.approx(np.mean(ten)) and band.std[1] == pytest.approx(np.std(ten, ddof=1))
    assert band.mean[0] == pytest.approx(curves[0][1][0]) and np.isnan(band.std[0])  # one seed: no band
    assert np.isnan(band.std[[0, 2, 4]]).all()
    assert cb.mean_std_band([([1, 2], [float("nan")] * 2)]) is None


def test_row_bands_from_history_files_match_numpy(tmp_path):
    records, _ = deduplicate(load_records([_sweep(tmp_path / "runs")]))
    vanilla = [r for r in records if r.group[1:] == ("ring", "mlp", "ns", "vanilla")]
    assert sorted(r.seed for r in vanilla) == [0, 1, 2, 3]  # seed 3 has a record but no history rows
    bands = cb.row_bands(vanilla, ["loss_d", "loss_g", "nb_modes"])
    for key, fn, steps in (("loss_d", _loss_d, RING_LOSS_STEPS), ("loss_g", _loss_g, RING_LOSS_STEPS),
                           ("nb_modes", _nb, RING_EVAL_STEPS)):
        ref_steps, mean, std, n = _reference(fn, steps)
        band = bands[key]
        np.testing.assert_array_equal(band.steps, ref_steps)
        np.testing.assert_array_equal(band.n, n)
        np.testing.assert_allclose(band.mean, mean, rtol=1e-12)
        np.testing.assert_allclose(band.std, std, rtol=1e-12)  # nan at the same steps
    assert bands["nb_modes"].n.tolist() == [3, 3, 2]
    bures = [r for r in records if r.group[-1] == "bures"]
    assert cb.row_bands(bures, ["loss_d"]) == {}  # trained before history.csv: no band, no error


def test_the_headline_metric_is_the_records_key_metric_else_the_tables_first(tmp_path):
    _run(tmp_path / "r", [_record("ring", "vanilla", 0, "jsd"), _record("ring", "vanilla", 1, "jsd"),
                          _record("ring", "bures", 0, None)])
    records = load_records([tmp_path])
    assert cb.headline_metric(records, ["nb_modes"]) == "jsd"
    assert cb.headline_metric([r for r in records if r.group[-1] == "bures"], ["hq_fraction", "jsd"]) == "hq_fraction"
    assert cb.headline_metric([], []) is None


def test_the_board_page_and_markdown_hold_a_curves_figure_per_dataset(tmp_path):
    sweep = _sweep(tmp_path / "runs")
    out = tmp_path / "out" / "board"
    assert lb.main([str(sweep), "--out", str(out), "--html"]) == 0
    page = Page(out.with_suffix(".html").read_text(encoding="utf-8"))
    assert {"curves-ring", "curves-grid"} <= page.ids and {"curves-ring", "curves-grid"} <= set(page.links)
    assert "training curves: ring" in page.h2 and "training curves: grid" in page.h2
    curves = [src for src in page.images if "_curves_" in src]
    assert sorted(curves) == ["board_curves_grid.png", "board_curves_ring.png"]
    for src in curves:
        assert (out.parent / src).read_bytes()[:4] == b"\x89PNG"
    assert "bures" in page.text.split("id='curves-ring'")[1].split("</section>")[0]  # listed without history.csv
    md = out.with_suffix(".md").read_text(encoding="utf-8")
    assert "![training curves: ring](board_curves_ring.png)" in md and "(board_curves_grid.png)" in md


def test_runs_without_history_get_no_figure_and_no_section(tmp_path):
    _run(tmp_path / "runs" / "c", [_record("ring", "bures", 0), _record("ring", "bures", 1)])
    out = tmp_path / "out" / "board"
    assert lb.main([str(tmp_path / "runs"), "--out", str(out), "--html"]) == 0
    page = Page(out.with_suffix(".html").read_text(encoding="utf-8"))
    assert "table-ring" in page.ids and not any(i.startswith("curves") for i in page.ids)
    assert not any("_curves" in src for src in page.images) and not list(out.parent.glob("*_curves*.png"))
    assert "training curves" not in out.with_suffix(".md").read_text(encoding="utf-8")


def test_the_paper_page_holds_a_curves_figure_per_dataset(tmp_path):
    sweep = _sweep(tmp_path / "runs")
    out = tmp_path / "out" / "t1"
    assert lb.main([str(sweep), "--paper", str(REPO / "sweeps/paper/rls_table1.yaml"), "--out", str(out)]) == 0
    page = Page(out.with_suffix(".html").read_text(encoding="utf-8"))
    assert {"curves-ring", "curves-grid"} <= page.ids
    assert sorted(src for src in page.images if "_curves_" in src) == ["t1_curves_grid.png", "t1_curves_ring.png"]
    assert (out.parent / "t1_curves_ring.png").is_file()
