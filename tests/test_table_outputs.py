"""The leaderboard and ours-vs-paper tables (python -m sweeps.leaderboard ...) on a fixed synthetic sweep, byte for
byte against the outputs committed in tests/golden/tables/: the committed docs/<table>.md/.csv/.html must stay
reproducible from the same results.json files. After a deliberate format change, regenerate the expected files
with MODEBENCH_REGENERATE_GOLDEN=1 pytest tests/test_table_outputs.py and review their diff."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from sweeps import leaderboard as lb

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "golden" / "tables"
T0 = 1_700_000_000  # fixed mtimes: the newest file wins a duplicate seed
PLOT_BYTES = {"samples": b"\x89PNG samples", "modes": b"\x89PNG modes"}


def _record(rng, experiment, dataset, method, seed, *, n_modes, variant="v" * 12, status="completed", drop=()):
    hq = float(rng.uniform(0.05, 0.95))
    metrics = {"nb_modes": int(rng.integers(max(0, n_modes - 3), n_modes + 1)), "hq_fraction": hq,
               "kl_modes": float(rng.exponential(0.2)), "jsd": float(rng.uniform(0.01, 0.5)),
               "mode_counts": [int(c) for c in rng.integers(0, 500, n_modes)], "nonfinite_fraction": 0.0}
    for name in drop:
        metrics.pop(name)
    return {"status": status, "seed": seed,
            "group": {"experiment": experiment, "dataset": dataset, "gan": "mlp", "loss": "ns", "method": method},
            "metrics": metrics, "variant": variant, "config_hash": f"{variant}{seed}",
            "timing": {"steps": 300, "train_seconds": float(rng.uniform(10, 100)),
                       "steps_per_second": float(rng.uniform(50, 200))}}


def _write(folder: Path, records: list[dict], mtime: float = T0, plots: dict[int, tuple[str, ...]] | None = None):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "results.json"
    path.write_text(json.dumps({"records": records}))
    os.utime(path, (mtime, mtime))
    for seed, kinds in (plots or {}).items():
        (folder / "plots").mkdir(exist_ok=True)
        for kind in kinds:
            (folder / "plots" / f"{kind}_seed{seed}.png").write_bytes(PLOT_BYTES[kind])


def make_sweep(root: Path) -> Path:
    """Runs of both paper tables with every case the tables format: seeds 1-10, a diverged and a failed run, a
    missing metric, two variants of one row, a superseded duplicate seed, a method the paper lacks, plots."""
    rng = np.random.default_rng(13)
    modes = {"ring": 8, "grid": 25, "ring_veegan": 8, "grid_balanced": 25, "grid_random": 25, "cube3d": 27}
    rls_rows = {"vanilla": 10, "pacgan": 3, "bures": 10, "rls_gauss": 10, "rls_bures_discr": 10, "mwugan": 1,
                "diagan": 2}
    for dataset in ("ring", "grid"):
        for method, seeds in rls_rows.items():
            records = [_record(rng, "rls_table1", dataset, method, s, n_modes=modes[dataset]) for s in range(seeds)]
            if method == "vanilla":
                records[3]["status"], records[4]["status"] = "diverged", "failed"
                records[5]["metrics"].pop("hq_fraction")
            _write(root / "rls_table1" / dataset / method, records,
                   plots={0: ("samples", "modes"), 1: ("samples",)} if method in ("vanilla", "bures") else None)
    _write(root / "rls_table1" / "grid" / "rls_gauss_lr",
           [_record(rng, "rls_table1", "grid", "rls_gauss", s, n_modes=25, variant="w" * 12) for s in range(4)])
    _write(root / "rls_table1" / "ring" / "vanilla_rerun",
           [_record(rng, "rls_table1", "ring", "vanilla", 0, n_modes=8)], mtime=T0 + 100)
    _write(root / "other", [_record(rng, "rls_mnist", "ring", "vanilla", s, n_modes=8) for s in range(2)])
    for dataset in ("ring_veegan", "grid_balanced", "grid_random", "cube3d"):
        for method in ("unrolled", "veegan", "diwgan"):
            _write(root / "diw_table1" / dataset / method,
                   [_record(rng, "diw_table1", dataset, method, s, n_modes=modes[dataset]) for s in range(5)])
    meta = {"command": ["python -m sweeps.run rls_table1", "python -m sweeps.run rls_table1 --methods bures"],
            "budget": "300 steps x batch 64 per generator; 1000 evaluation samples", "seeds": "10 per row",
            "machine": "a test machine", "wall_time": "0:01:00 over 2 invocation(s)", "date": "2026-01-01",
            "commit": "0123abc", "notes": ["synthetic records"]}
    (root / "sweep.json").write_text(json.dumps({"meta": meta}))
    return root


# name -> (leaderboard arguments after the sweep folder, files written under the output prefix)
OUTPUTS = {
    "board": ([], [".md", ".csv"]),
    "board_lists": (["--metrics", "nb_modes", "mode_counts", "timing.steps_per_second", "--by", "none"],
                    [".md", ".csv"]),
    "rls_table1": (["--paper", "sweeps/paper/rls_table1.yaml", "--meta", "{sweep}/sweep.json"],
                   [".md", ".csv", ".html"]),
    "diw_table1": (["--paper", "sweeps/paper/diw_table1.yaml", "--metrics", "nb_modes", "hq_fraction", "jsd"],
                   [".md", ".csv", ".html"]),
}


@pytest.mark.parametrize("name", sorted(OUTPUTS))
def test_tables_are_byte_for_byte_the_committed_ones(name, tmp_path, capsys):
    sweep = make_sweep(tmp_path / "multirun")
    args, suffixes = OUTPUTS[name]
    args = [str(REPO / a) if a.startswith("sweeps/") else a.replace("{sweep}", str(sweep)) for a in args]
    prefix = tmp_path / "out" / name
    assert lb.main([str(sweep), *args, "--out", str(prefix)]) == 0
    assert capsys.readouterr().out == Path(f"{prefix}.md").read_text(encoding="utf-8")
    for suffix in suffixes:
        produced = Path(f"{prefix}{suffix}").read_bytes()
        expected = GOLDEN / f"{name}{suffix}"
        if os.environ.get("MODEBENCH_REGENERATE_GOLDEN"):
            expected.parent.mkdir(parents=True, exist_ok=True)
            expected.write_bytes(produced)
        assert produced == expected.read_bytes(), f"{name}{suffix} differs from {expected}"
    if ".html" in suffixes:  # one seed's figures of each plotted row are copied next to the page
        folder = prefix.parent / f"{name}_files"
        figures = {p.name: p.read_bytes() for p in folder.iterdir()} if folder.exists() else {}
        expected = {} if name == "diw_table1" else {
            f"{row}_{kind}.png": PLOT_BYTES[kind] for row in ("ring_bures", "grid_vanilla", "grid_bures")
            for kind in ("samples", "modes")}
        if name == "rls_table1":  # ring/vanilla's seed 0 was superseded by a re-run without plots: seed 1's
            expected["ring_vanilla_samples.png"] = PLOT_BYTES["samples"]
        assert figures == expected
