"""Leaderboard builder (sweeps/leaderboard.py, records.py, table.py) on fabricated results.json files."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sweeps import leaderboard as lb
from sweeps import records as rd
from sweeps import table as tb
from sweeps.records import LeaderboardWarning

REPO = Path(__file__).resolve().parents[1]
T0 = 1_700_000_000  # a fixed mtime base


def rec(seed, method="rls_gauss", *, status="completed", dataset="ring", variant="aaaaaaaa1111", metrics=None,
        experiment="rls_table1", gan="mlp", loss="ns"):
    return {
        "status": status,
        "seed": seed,
        "group": {"experiment": experiment, "dataset": dataset, "gan": gan, "loss": loss, "method": method},
        "metrics": metrics if metrics is not None else {},
        "timing": {"train_seconds": 10.0 + seed, "steps": 100, "steps_per_second": 10.0, "eval_seconds": 0.1},
        "config": {"seed": seed},
        "config_hash": f"h{seed}{variant}",
        "variant": variant,
        "env": {"git_commit": "x", "torch": "2", "device": "cpu"},
    }


def toy_metrics(nb, hq, kl, k=8):
    return {"nb_modes": nb, "hq_fraction": hq, "kl_modes": kl, "mode_counts": [nb * 10 + i for i in range(k)],
            "nonfinite_fraction": 0.0}


def write(path: Path, records, mtime=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"records": records}))
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


# Five seeds of rls_gauss on ring, in one multi-replica file.
RING_NB = [8, 7, 8, 6, 8]
RING_HQ = [0.91, 0.88, 0.93, 0.85, 0.90]
RING_KL = [0.01, 0.05, 0.02, 0.11, 0.03]


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    root = tmp_path / "multirun"
    write(root / "0" / "results.json",
          [rec(s, metrics=toy_metrics(nb, hq, kl)) for s, nb, hq, kl in zip(range(5), RING_NB, RING_HQ, RING_KL)],
          mtime=T0)
    # vanilla on ring: two completed seeds, one diverged (its junk metrics must not be averaged), one failed
    write(root / "1" / "results.json", [
        rec(0, "vanilla", metrics=toy_metrics(5, 0.92, 0.3)),
        rec(1, "vanilla", metrics=toy_metrics(4, 0.90, 0.5)),
        rec(2, "vanilla", status="diverged", metrics={"nb_modes": 1000, "hq_fraction": float("nan")}),
        rec(3, "vanilla", status="failed"),
    ], mtime=T0)
    # grid: one seed only, and a second variant of the same group (different lr, say)
    write(root / "2" / "results.json", [rec(0, dataset="grid", metrics=toy_metrics(20, 0.8, 0.2, k=25))], mtime=T0)
    write(root / "3" / "results.json",
          [rec(s, dataset="grid", variant="bbbbbbbb2222", metrics=toy_metrics(v, 0.7, 0.3, k=25))
           for s, v in ((0, 22), (1, 24))], mtime=T0)
    # a corrupt file and a file without records
    (root / "4").mkdir()
    (root / "4" / "results.json").write_text('{"records": [{"status": "compl')
    write(root / "5" / "results.json", [])
    (root / "5" / "results.json").write_text('{"runs": []}')
    return root


def build(root, metrics=None):
    with pytest.warns(LeaderboardWarning):
        records = rd.load_records([root])
    kept, superseded = rd.deduplicate(records)
    metrics = metrics or tb.default_metrics(kept)
    return tb.summarise(rd.group_records(kept), metrics), metrics, superseded


def row_of(rows, method, dataset="ring", variant=None):
    found = [r for r in rows if r.key("method") == method and r.key("dataset") == dataset
             and (variant is None or r.variant == variant)]
    assert len(found) == 1, found
    return found[0]


# ---------------------------------------------------------------------------- loading


def test_corrupt_files_are_skipped_with_a_warning_naming_them(sweep):
    with pytest.warns(LeaderboardWarning) as caught:
        records = rd.load_records([sweep])
    messages = [str(w.message) for w in caught]
    assert any(str(sweep / "4" / "results.json") in m for m in messages)
    assert any(str(sweep / "5" / "results.json") in m for m in messages)
    assert len(records) == 5 + 4 + 1 + 2


def test_malformed_record_is_skipped_but_its_file_is_not(tmp_path):
    good = rec(0, metrics={"nb_modes": 3})
    bad_group = rec(1)
    del bad_group["group"]["loss"]
    write(tmp_path / "results.json", [good, bad_group, "junk", rec(2, status="exploded")])
    with pytest.warns(LeaderboardWarning) as caught:
        records = rd.load_records([tmp_path])
    assert [r.seed for r in records] == [0]
    messages = [str(w.message) for w in caught]
    assert len(messages) == 3 and all(str(tmp_path / "results.json") in m for m in messages)
    assert "record 1" in messages[0] and "loss" in messages[0]
    assert "record 2" in messages[1] and "record 3" in messages[2] and "exploded" in messages[2]


def test_missing_directory_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        rd.load_records([tmp_path / "nope"])


# ---------------------------------------------------------------------------- statistics


def test_means_and_stds_match_numpy(sweep):
    rows, metrics, _ = build(sweep)
    # mode_counts is a list, nonfinite_fraction a diagnostic: both only when asked for
    assert metrics == ["nb_modes", "hq_fraction", "kl_modes"]
    r = row_of(rows, "rls_gauss")
    assert (r.n_completed, r.n_diverged, r.n_failed) == (5, 0, 0)
    for name, vals in (("nb_modes", RING_NB), ("hq_fraction", RING_HQ), ("kl_modes", RING_KL)):
        s = r.metrics[name]
        assert s.n == 5
        assert s.mean == pytest.approx(np.mean(vals), rel=1e-12)
        assert s.std == pytest.approx(np.std(vals, ddof=1), rel=1e-12)
        assert s.values == [float(v) for v in vals] and s.seeds == [0, 1, 2, 3, 4]


def test_diverged_and_failed_are_counted_not_averaged(sweep):
    rows, _, _ = build(sweep)
    r = row_of(rows, "vanilla")
    assert (r.n_completed, r.n_diverged, r.n_failed) == (2, 1, 1)
    assert r.metrics["nb_modes"].mean == pytest.approx(4.5)
    assert r.metrics["nb_modes"].std == pytest.approx(np.std([5, 4], ddof=1))
    assert r.metrics["hq_fraction"].mean == pytest.approx(0.91)


def test_single_seed_has_no_std(sweep):
    rows, _, _ = build(sweep)
    r = row_of(rows, "rls_gauss", "grid", variant="aaaaaaaa1111")
    assert r.metrics["nb_modes"].mean == 20 and r.metrics["nb_modes"].std is None


def test_two_variants_become_two_rows(sweep):
    rows, _, _ = build(sweep)
    grid = [r for r in rows if r.key("dataset") == "grid"]
    assert sorted(r.variant for r in grid) == ["aaaaaaaa1111", "bbbbbbbb2222"]
    assert all(r.show_variant for r in grid)
    assert {r.variant_id for r in grid} == {"aaaaaaaa", "bbbbbbbb"}
    b = row_of(rows, "rls_gauss", "grid", variant="bbbbbbbb2222")
    assert b.metrics["nb_modes"].mean == 23 and b.metrics["nb_modes"].std == pytest.approx(np.std([22, 24], ddof=1))
    assert not row_of(rows, "rls_gauss", "ring").show_variant


def test_variant_ids_stay_unique_beyond_eight_characters():
    assert tb.short_ids(["abcdefgh1", "abcdefgh2", "zzzzzzzzzz"]) == {
        "abcdefgh1": "abcdefgh1", "abcdefgh2": "abcdefgh2", "zzzzzzzzzz": "zzzzzzzzz"}


def test_duplicate_seed_keeps_the_newest_file(tmp_path):
    # the newer file sorts *first* by path, so only mtime can pick it
    write(tmp_path / "b_old" / "results.json", [rec(0, metrics={"nb_modes": 1}), rec(1, metrics={"nb_modes": 3})],
          mtime=T0)
    write(tmp_path / "a_new" / "results.json", [rec(0, metrics={"nb_modes": 7})], mtime=T0 + 100)
    # same seed but another variant: not a duplicate
    write(tmp_path / "c" / "results.json", [rec(0, variant="cccccccc", metrics={"nb_modes": 2})], mtime=T0)
    kept, superseded = rd.deduplicate(rd.load_records([tmp_path]))
    assert len(superseded) == 1 and superseded[0].metrics["nb_modes"] == 1
    rows = tb.summarise(rd.group_records(kept), ["nb_modes"])
    main = row_of(rows, "rls_gauss", variant="aaaaaaaa1111")
    assert sorted(main.metrics["nb_modes"].values) == [3.0, 7.0]
    assert row_of(rows, "rls_gauss", variant="cccccccc").metrics["nb_modes"].values == [2.0]

    os.utime(tmp_path / "b_old" / "results.json", (T0 + 200, T0 + 200))  # now the other file is newer
    kept, _ = rd.deduplicate(rd.load_records([tmp_path]))
    rows = tb.summarise(rd.group_records(kept), ["nb_modes"])
    assert sorted(row_of(rows, "rls_gauss", variant="aaaaaaaa1111").metrics["nb_modes"].values) == [1.0, 3.0]


def test_missing_or_nonfinite_metric_values_are_left_out_and_marked(tmp_path):
    write(tmp_path / "results.json", [rec(0, metrics={"kl_modes": 0.1}), rec(1, metrics={"kl_modes": float("nan")}),
                                      rec(2, metrics={}), rec(3, metrics={"kl_modes": 0.3})])
    kept, _ = rd.deduplicate(rd.load_records([tmp_path]))
    rows = tb.summarise(rd.group_records(kept), ["kl_modes"])
    s = rows[0].metrics["kl_modes"]
    assert (s.n, s.mean, s.seeds) == (2, pytest.approx(0.2), [0, 3])
    md = lb.to_markdown(rows, ["kl_modes"])
    assert "[n=2]" in md and "| 4 |" in md


def test_list_metric_only_when_asked_and_averaged_elementwise(sweep):
    rows, _, _ = build(sweep, metrics=["mode_counts"])
    s = row_of(rows, "rls_gauss").metrics["mode_counts"]
    arr = np.array([[nb * 10 + i for i in range(8)] for nb in RING_NB], dtype=float)
    np.testing.assert_allclose(s.mean, arr.mean(axis=0))
    np.testing.assert_allclose(s.std, arr.std(axis=0, ddof=1))


# ---------------------------------------------------------------------------- formatting


@pytest.mark.parametrize("mean,std,expected", [
    (5.0, 1.1, "5.0 (1.1)"), (8.0, 0.0, "8 (0)"), (0.92, 0.02, "0.920 (0.020)"), (24.4, 0.92, "24.40 (0.92)"),
    (0.9, None, "0.900 (—)"), (None, None, "—"), (13.8, 7.4, "13.8 (7.4)"), (1234.4, 56.0, "1234 (56)"),
])
def test_format_mean_std(mean, std, expected):
    assert tb.format_mean_std(mean, std) == expected


def test_markdown_tables_per_dataset(sweep):
    rows, metrics, _ = build(sweep)
    md = lb.to_markdown(rows, metrics, by="dataset")
    assert md.index("### dataset: grid") < md.index("### dataset: ring")
    ring = md[md.index("### dataset: ring"):]
    lines = [ln for ln in ring.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["method", "nb_modes", "hq_fraction", "kl_modes", "n", "diverged", "failed"]
    rls = next(ln for ln in lines if ln.startswith("| rls_gauss"))
    cells = [c.strip() for c in rls.strip("|").split("|")]
    assert cells[1] == tb.format_mean_std(np.mean(RING_NB), np.std(RING_NB, ddof=1))
    assert cells[-3:] == ["5", "0", "0"]
    van = next(ln for ln in lines if ln.startswith("| vanilla"))
    assert [c.strip() for c in van.strip("|").split("|")][-3:] == ["2", "1", "1"]
    grid = md[md.index("### dataset: grid"):md.index("### dataset: ring")]
    assert "variant" in grid and "aaaaaaaa" in grid and "bbbbbbbb" in grid and "20 (—)" in grid
    assert "diverged and failed runs are counted" in md and "ddof=1" in md


def test_markdown_single_table_shows_distinguishing_keys(sweep):
    rows, metrics, _ = build(sweep)
    md = lb.to_markdown(rows, metrics, by=None)
    assert "###" not in md
    header = [c.strip() for c in md.splitlines()[0].strip("|").split("|")]
    assert header[:3] == ["dataset", "method", "variant"]


def test_csv_contents(sweep):
    rows, metrics, _ = build(sweep)
    text = lb.to_csv(rows, metrics)
    table = list(csv.DictReader(io.StringIO(text)))
    assert len(table) == 4  # ring/rls_gauss, ring/vanilla, grid variants a and b
    r = next(t for t in table if t["method"] == "rls_gauss" and t["dataset"] == "ring")
    assert float(r["hq_fraction_mean"]) == pytest.approx(np.mean(RING_HQ), rel=1e-15)
    assert float(r["hq_fraction_std"]) == pytest.approx(np.std(RING_HQ, ddof=1), rel=1e-15)
    assert r["hq_fraction_n"] == "5" and r["n_completed"] == "5" and r["seeds"] == "0 1 2 3 4"
    v = next(t for t in table if t["method"] == "vanilla")
    assert (v["n_diverged"], v["n_failed"], v["experiment"], v["loss"]) == ("1", "1", "rls_table1", "ns")
    single = next(t for t in table if t["variant"] == "aaaaaaaa1111" and t["dataset"] == "grid")
    assert single["nb_modes_std"] == "" and float(single["nb_modes_mean"]) == 20


# ---------------------------------------------------------------------------- CLI


def test_cli_subprocess_writes_markdown_and_csv(sweep, tmp_path):
    prefix = tmp_path / "out" / "board"
    proc = subprocess.run(
        [sys.executable, "-m", "sweeps.leaderboard", str(sweep), "--out", str(prefix),
         "--metrics", "nb_modes", "hq_fraction"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "### dataset: ring" in proc.stdout and "| rls_gauss |" in proc.stdout
    assert "kl_modes" not in proc.stdout
    assert "warning:" in proc.stderr and str(sweep / "4" / "results.json") in proc.stderr
    assert Path(f"{prefix}.md").read_text() == proc.stdout
    header = Path(f"{prefix}.csv").read_text().splitlines()[0].split(",")
    assert header[-6:] == ["nb_modes_mean", "nb_modes_std", "nb_modes_n", "hq_fraction_mean", "hq_fraction_std",
                           "hq_fraction_n"]


def test_cli_main_by_method_and_errors(sweep, tmp_path, capsys):
    assert lb.main([str(sweep), "--by", "method"]) == 0
    out = capsys.readouterr().out
    assert "### method: rls_gauss" in out and "### method: vanilla" in out
    assert lb.main([str(tmp_path / "missing")]) == 2
    (tmp_path / "empty").mkdir()
    assert lb.main([str(tmp_path / "empty")]) == 1
    assert "no readable results.json" in capsys.readouterr().err
    assert lb.main([str(sweep), "--metrics", "fid"]) == 0
    assert "'fid' was not found" in capsys.readouterr().err
