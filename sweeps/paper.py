"""Published numbers of a paper table (``sweeps/paper/<experiment>.yaml``) and the statistics to compare with them.

File format (shared by every paper table)::

    source: "Authors year, Title, Table k"
    experiment: rls_table1                      # the experiment_name our runs of this table carry
    metrics: {nb_modes: "Nb modes", hq_fraction: "% in 3σ"}   # our metric -> paper column name
    runs: 10                                    # optional: runs behind each published mean (std)
    steps: 30000                                # optional: the paper's training steps (rows trained otherwise are marked)
    figures: {samples: "Fig. 3", modes: "Fig. 4"}   # optional: the paper's figures our plots correspond to
    units: {jsd: "why our JSD is not the paper's"}  # optional: metrics comparable in trend only (no ± 2 std flag)
    rows:
      - {method: vanilla, label: "GAN", proposed: false, dataset: ring, nb_modes: [5.0, 1.1], hq_fraction: [0.92, 0.02]}

Each row gives (mean, std) for some of the metrics (a missing metric or ``null`` means the paper has no number; a
bare number is a mean the paper prints without a spread, e.g. Dia-GAN's tables: no ± 2 std flag, no Welch test).
A metric name may index a list-valued metric: ``class_counts[0]`` (sweeps.records); ``runs: 1`` marks single
runs (no Welch test on the paper's numbers).
``proposed: true`` marks the paper's own methods (the Welch test compares the best of them with the best other
row); an optional ``starred: [metric, ...]`` lists the cells where the paper prints its significance star.
``include: [other.yaml, {file: another.yaml, datasets: [d1, d2]}, ...]`` (paths relative to the file) appends another
paper file's rows (all, or those of the listed datasets; their metrics that this file names), so a new experiment
can sit beside a published table's rows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import yaml
from scipy import stats

__all__ = ["PaperRow", "PaperTable", "load_paper", "welch_test", "welch_from_stats", "WelchResult",
           "LOWER_IS_BETTER"]

# Metrics where smaller is better (every other metric: larger is better).
LOWER_IS_BETTER = frozenset({"kl_modes", "kl_classes", "jsd", "fid", "kid", "fcd", "train_seconds", "prior_l1", "prior_kl"})


class PaperFormatError(ValueError):
    """The paper file does not follow the format (the message names the file, row and field)."""


@dataclass
class PaperRow:
    method: str
    label: str
    proposed: bool
    dataset: str
    values: dict[str, tuple[float, float | None]]  # metric -> (mean, std); std None: not published
    starred: tuple[str, ...] = ()


@dataclass
class PaperTable:
    source: str
    experiment: str
    metrics: dict[str, str]  # our metric name -> paper column name
    rows: list[PaperRow]
    runs: int = 10
    path: Path | None = None
    datasets: list[str] = field(default_factory=list)
    steps: int | None = None  # the paper's training steps; None: not stated
    figures: dict[str, str] = field(default_factory=dict)  # plot kind (samples, modes) -> the paper's figure
    units: dict[str, str] = field(default_factory=dict)  # metric -> why it is comparable in trend only

    def row(self, dataset: str, method: str) -> PaperRow | None:
        for r in self.rows:
            if r.dataset == dataset and r.method == method:
                return r
        return None

    def rows_for(self, dataset: str) -> list[PaperRow]:
        return [r for r in self.rows if r.dataset == dataset]


def load_paper(path: str | Path) -> PaperTable:
    """Read and validate a paper file; raises :class:`PaperFormatError` naming what is wrong."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PaperFormatError(f"{path}: cannot read paper numbers ({exc})") from None
    if not isinstance(raw, dict):
        raise PaperFormatError(f"{path}: expected a mapping at the top level")
    for key in ("source", "experiment", "metrics", "rows"):
        if key not in raw:
            raise PaperFormatError(f"{path}: missing top-level key '{key}'")
    metrics = raw["metrics"]
    if not isinstance(metrics, dict) or not metrics:
        raise PaperFormatError(f"{path}: 'metrics' must map our metric names to the paper's column names")
    runs = raw.get("runs", 10)
    if not isinstance(runs, int) or isinstance(runs, bool) or runs < 1:
        raise PaperFormatError(f"{path}: 'runs' must be an integer >= 1, got {runs!r}")
    steps = raw.get("steps")
    if steps is not None and (not isinstance(steps, int) or isinstance(steps, bool) or steps < 1):
        raise PaperFormatError(f"{path}: 'steps' must be a positive integer, got {steps!r}")
    extras = {}
    for key, allowed in (("figures", {"samples", "modes"}), ("units", set(metrics))):
        value = raw.get(key) or {}
        if not isinstance(value, dict) or set(value) - allowed or not all(isinstance(v, str) for v in value.values()):
            raise PaperFormatError(f"{path}: '{key}' must map {sorted(allowed)} to text, got {value!r}")
        extras[key] = dict(value)
    rows, seen = [], set()
    for i, r in enumerate(raw["rows"] or []):
        where = f"{path}: rows[{i}]"
        if not isinstance(r, dict):
            raise PaperFormatError(f"{where}: expected a mapping")
        for key in ("method", "label", "proposed", "dataset"):
            if key not in r:
                raise PaperFormatError(f"{where}: missing '{key}'")
        if not isinstance(r["proposed"], bool):
            raise PaperFormatError(f"{where}: 'proposed' must be true or false")
        unknown = set(r) - {"method", "label", "proposed", "dataset", "starred"} - set(metrics)
        if unknown:
            raise PaperFormatError(f"{where}: unknown key(s) {sorted(unknown)}; metrics are {sorted(metrics)}")
        values = {}
        for m in metrics:
            v = r.get(m)
            if v is None:
                continue
            if _is_number(v):
                values[m] = (float(v), None)
                continue
            if (not isinstance(v, (list, tuple)) or len(v) != 2
                    or not all(_is_number(e) for e in v)
                    or v[1] < 0):
                raise PaperFormatError(f"{where}: '{m}' must be [mean, std] with std >= 0 or a bare mean, got {v!r}")
            values[m] = (float(v[0]), float(v[1]))
        starred = tuple(r.get("starred") or ())
        bad = set(starred) - set(metrics)
        if bad:
            raise PaperFormatError(f"{where}: 'starred' names unknown metric(s) {sorted(bad)}")
        key = (r["dataset"], r["method"])
        if key in seen:
            raise PaperFormatError(f"{where}: duplicate row for dataset={key[0]} method={key[1]}")
        seen.add(key)
        rows.append(PaperRow(str(r["method"]), str(r["label"]), r["proposed"], str(r["dataset"]), values, starred))
    for entry in raw.get("include") or []:  # another table's rows (e.g. the baselines a new experiment sits beside)
        name, only = (entry["file"], set(entry["datasets"])) if isinstance(entry, dict) else (entry, None)
        other = load_paper(path.parent / name)
        for r in other.rows:
            if only is not None and r.dataset not in only:
                continue
            if (r.dataset, r.method) in seen:
                raise PaperFormatError(f"{path}: included {name} repeats the row dataset={r.dataset} method={r.method}")
            seen.add((r.dataset, r.method))
            rows.append(PaperRow(r.method, r.label, r.proposed, r.dataset,
                                 {m: v for m, v in r.values.items() if m in metrics},
                                 tuple(m for m in r.starred if m in metrics)))
    datasets = list(dict.fromkeys(r.dataset for r in rows))
    return PaperTable(str(raw["source"]), str(raw["experiment"]), dict(metrics), rows, runs, path, datasets, steps,
                      extras["figures"], extras["units"])


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# ============================================================================ Welch's t-test


@dataclass
class WelchResult:
    """One-tailed Welch test of H1: mean(a) > mean(b)."""

    t: float
    df: float
    p: float

    def significant(self, alpha: float = 0.05) -> bool:
        return math.isfinite(self.p) and self.p < alpha


def welch_from_stats(mean_a: float, std_a: float, n_a: int, mean_b: float, std_b: float, n_b: int) -> WelchResult:
    """Welch's unequal-variance t-test from summary statistics (sample stds, ddof=1), one-tailed a > b.

    t = (m_a - m_b) / sqrt(s_a²/n_a + s_b²/n_b), Welch–Satterthwaite degrees of freedom, p = P(T_df >= t).
    With both variances 0 the result follows scipy: t = ±inf (p = 0 or 1) when the means differ, nan when equal.
    """
    if n_a < 2 or n_b < 2:
        return WelchResult(math.nan, math.nan, math.nan)
    va, vb = std_a ** 2 / n_a, std_b ** 2 / n_b
    diff = mean_a - mean_b
    se2 = va + vb
    if se2 == 0:
        t = math.nan if diff == 0 else math.copysign(math.inf, diff)
        return WelchResult(t, math.nan, math.nan if diff == 0 else (0.0 if diff > 0 else 1.0))
    t = diff / math.sqrt(se2)
    df = se2 ** 2 / (va ** 2 / (n_a - 1) + vb ** 2 / (n_b - 1))
    return WelchResult(t, df, float(stats.t.sf(t, df)))


def welch_test(a: Sequence[float], b: Sequence[float]) -> WelchResult:
    """One-tailed Welch test of mean(a) > mean(b) on per-seed values."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2 or len(b) < 2:
        return WelchResult(math.nan, math.nan, math.nan)
    return welch_from_stats(float(a.mean()), float(a.std(ddof=1)), len(a), float(b.mean()), float(b.std(ddof=1)), len(b))
