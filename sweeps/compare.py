"""Our results lined up with a paper's published table: our mean (std) beside the paper's, flags, bold and Welch
stars (:func:`compare_records`; sweeps.paper_report writes the result as Markdown / CSV / HTML).

    python -m sweeps.leaderboard multirun/rls_table1 --paper sweeps/paper/rls_table1.yaml --out docs/rls_table1

builds ``docs/rls_table1.md``, ``.csv`` and ``.html`` (+ ``docs/rls_table1_files/`` with the figures). Rules:

- a row per paper row (in the paper's order), matched on (dataset, method) among our runs of the paper's
  ``experiment``; our runs of other methods follow; a paper row we have not run shows ``—``;
- **bold**: the best mean of a column (ours and the paper's separately; ties all bold);
- ``†``: our mean lies outside the paper's mean ± 2 std (when the paper gives a std, and the paper file does not
  list the metric under ``units`` as comparable in trend only);
- ``*``: a one-tailed Welch t-test at 0.05 between the best proposed row and the best competitor row (the paper's
  rule): the star goes to whichever is better when the difference is significant; the paper's own numbers
  get the same test from their summary statistics (n = ``runs``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from sweeps.paper import LOWER_IS_BETTER, PaperRow, PaperTable, WelchResult, welch_from_stats, welch_test
from sweeps.records import Record, group_records
from sweeps.table import Row, summarise

ALPHA = 0.05
OUTSIDE = "†"
STAR = "*"


@dataclass
class Cell:
    """One metric of one comparison row."""

    mean: float | None = None
    std: float | None = None
    n: int = 0
    values: list[float] = field(default_factory=list)
    paper: tuple[float, float] | None = None
    outside: bool | None = None  # our mean outside the paper's mean ± 2 std (None: nothing to compare)
    best: bool = False
    paper_best: bool = False
    star: bool = False
    paper_star: bool = False


@dataclass
class CompareRow:
    dataset: str
    method: str
    label: str
    proposed: bool | None  # None: a method the paper does not report
    row: Row | None  # our summary (None: not run)
    paper: PaperRow | None
    cells: dict[str, Cell]
    variant_id: str = ""  # the row's id among rows of the same (dataset, method): its GAN and/or variant id
    sample_plot: Path | None = None  # plots/samples_seed<k>.png of one of our runs
    modes_plot: Path | None = None
    plot_seed: int | None = None
    setting: str = ""  # its label there: the GAN and/or the config keys telling it apart (else the variant id)

    @property
    def display(self) -> str:
        text = self.label + (" (proposed)" if self.proposed else "")
        shown = self.setting or self.variant_id
        return text + (f" [{shown}]" if shown else "")

    def budget_differs(self, paper_steps: int | None) -> bool:
        """Our seeds were trained for other steps than the paper's (unknown steps count as different)."""
        return paper_steps is not None and self.row is not None and self.row.steps != [paper_steps]


@dataclass
class Significance:
    """The Welch test of one (dataset, metric) column."""

    dataset: str
    metric: str
    source: str  # "ours" or "paper"
    proposed: CompareRow
    competitor: CompareRow
    winner: str  # "proposed" or "competitor": the better mean, tested as H1 "winner > loser"
    result: WelchResult

    @property
    def significant(self) -> bool:
        return self.result.significant(ALPHA)


@dataclass
class Comparison:
    paper: PaperTable
    metrics: list[str]
    tables: dict[str, list[CompareRow]]  # dataset -> rows
    tests: list[Significance]


def _better(a: float, b: float, metric: str) -> bool:
    return a < b if metric in LOWER_IS_BETTER else a > b


def compare_records(records: Sequence[Record], *, paper: PaperTable, metrics: Sequence[str] | None = None,
                    experiment: str | None = None) -> Comparison:
    """The comparison of (de-duplicated) records with ``paper`` on ``metrics`` (default: the paper's columns)."""
    metrics = list(metrics or paper.metrics)
    return compare(summarise(group_records(records), metrics), records, paper, metrics, experiment)


def compare(rows: Sequence[Row], records: Sequence[Record], paper: PaperTable, metrics: Sequence[str] | None = None,
            experiment: str | None = None) -> Comparison:
    """Line our leaderboard rows up with the paper's rows and compute flags, bests and Welch tests.

    ``rows`` come from :func:`sweeps.table.summarise` (with at least the paper's metrics);
    ``records`` are used to find each row's plots. Only our rows of ``experiment`` (default: the paper's) count.
    """
    metrics = list(metrics or paper.metrics)
    experiment = paper.experiment if experiment is None else experiment
    ours = [r for r in rows if r.key("experiment") == experiment]
    by_key: dict[tuple[str, str], list[Row]] = {}
    for r in ours:
        by_key.setdefault((r.key("dataset"), r.key("method")), []).append(r)
    datasets = list(paper.datasets) + sorted({d for d, _ in by_key} - set(paper.datasets))
    plots = plot_index(records)
    tables: dict[str, list[CompareRow]] = {}
    for dataset in datasets:
        table: list[CompareRow] = []
        for prow in paper.rows_for(dataset):
            matches = by_key.pop((dataset, prow.method), [])
            for r, tag in zip(matches, row_tags(matches)) if matches else [(None, ("", ""))]:
                table.append(_make_row(dataset, prow.method, prow.label, prow.proposed, r, prow, metrics, plots, tag,
                                       units=paper.units))
        for (d, method) in sorted(k for k in by_key if k[0] == dataset):
            matches = by_key.pop((d, method))
            for r, tag in zip(matches, row_tags(matches)):
                table.append(_make_row(dataset, method, method, None, r, None, metrics, plots, tag))
        tables[dataset] = table
    tests: list[Significance] = []
    for dataset, table in tables.items():
        for m in metrics:
            _mark_best(table, m)
            for source in ("ours", "paper"):
                test = _welch(dataset, m, table, source, paper.runs)
                if test is not None:
                    tests.append(test)
                    if test.significant:
                        winner = test.proposed if test.winner == "proposed" else test.competitor
                        if source == "ours":
                            winner.cells[m].star = True
                        else:
                            winner.cells[m].paper_star = True
    return Comparison(paper, metrics, tables, tests)


def row_tags(rows: Sequence[Row]) -> list[tuple[str, str]]:
    """What tells our rows of one (dataset, method) apart, as (id, label): the GAN when they differ in it (the same
    table run with several GAN families), then, where one GAN has several settings, the variant id (in the id: file
    names, the CSV) and the config keys that differ (in the label; the id where they are unknown); ("", "") for a
    single row."""
    gans = [r.key("gan") for r in rows]
    several_gans = len(set(gans)) > 1
    tags = []
    for r, gan in zip(rows, gans):
        ids = [gan] if several_gans else []
        labels = list(ids)
        if gans.count(gan) > 1:
            ids.append(r.variant_id)
            labels.append(r.setting or r.variant_id)
        tags.append(("_".join(ids), ", ".join(labels)))
    return tags


def _make_row(dataset, method, label, proposed, row: Row | None, prow: PaperRow | None, metrics, plots,
              tag: tuple[str, str] = ("", ""), units=frozenset()) -> CompareRow:
    cells = {}
    for m in metrics:
        cell = Cell()
        if row is not None and m in row.metrics and isinstance(row.metrics[m].mean, (int, float)):
            s = row.metrics[m]
            cell.mean, cell.std, cell.n, cell.values = float(s.mean), s.std, s.n, [float(v) for v in s.values]
        if prow is not None and m in prow.values:
            cell.paper = prow.values[m]
            if cell.mean is not None and cell.paper[1] is not None and m not in units:
                pm, ps = cell.paper
                cell.outside = None if ps is None else abs(cell.mean - pm) > 2 * ps + 1e-12
        cells[m] = cell
    out = CompareRow(dataset, method, label, proposed, row, prow, cells, tag[0], setting=tag[1])
    if row is not None:
        seeds = sorted(s for s in row.seeds if s is not None)
        for seed in seeds:
            found = plots.get((row.group, row.variant, seed))
            if found:
                out.sample_plot, out.modes_plot, out.plot_seed = found[0], found[1], seed
                break
    return out


def plot_index(records: Sequence[Record]) -> dict[tuple, tuple[Path | None, Path | None]]:
    """(group, variant, seed) -> (samples plot, modes plot) of completed records whose run folder has them."""
    index = {}
    for rec in records:
        if rec.status != "completed" or rec.seed is None:
            continue
        folder = rec.path.parent / "plots"
        samples, modes = folder / f"samples_seed{rec.seed}.png", folder / f"modes_seed{rec.seed}.png"
        if samples.exists() or modes.exists():
            index[(rec.group, rec.variant, rec.seed)] = (samples if samples.exists() else None,
                                                         modes if modes.exists() else None)
    return index


def _mark_best(table: list[CompareRow], m: str) -> None:
    for attr, get in (("best", lambda c: c.mean), ("paper_best", lambda c: c.paper[0] if c.paper else None)):
        values = [get(r.cells[m]) for r in table if get(r.cells[m]) is not None]
        if not values:
            continue
        best = min(values) if m in LOWER_IS_BETTER else max(values)
        for r in table:
            v = get(r.cells[m])
            if v is not None and abs(v - best) <= 1e-12 * max(1.0, abs(best)):
                setattr(r.cells[m], attr, True)


def _welch(dataset: str, m: str, table: list[CompareRow], source: str, paper_runs: int) -> Significance | None:
    """Best proposed vs best competitor (rows of the paper only) on our values or on the paper's numbers."""
    def mean_of(r):
        c = r.cells[m]
        if source == "ours":
            return c.mean if c.n >= 2 else None
        # a bare published mean (no spread) or one published run: nothing to test
        return c.paper[0] if c.paper and c.paper[1] is not None and paper_runs >= 2 else None

    candidates = [r for r in table if r.proposed is not None and mean_of(r) is not None]
    if source == "paper" and any(r.cells[m].paper[1] is None for r in candidates):
        return None  # the paper prints no spread: nothing to test
    proposed = [r for r in candidates if r.proposed]
    competitors = [r for r in candidates if not r.proposed]
    if not proposed or not competitors:
        return None
    pick = min if m in LOWER_IS_BETTER else max
    best_p = pick(proposed, key=mean_of)
    best_c = pick(competitors, key=mean_of)
    proposed_wins = not _better(mean_of(best_c), mean_of(best_p), m)
    win, lose = (best_p, best_c) if proposed_wins else (best_c, best_p)
    sign = -1.0 if m in LOWER_IS_BETTER else 1.0  # test "winner better than loser" as a one-tailed "greater"
    if source == "ours":
        result = welch_test([sign * v for v in win.cells[m].values], [sign * v for v in lose.cells[m].values])
    else:
        (mw, sw), (ml, sl) = win.cells[m].paper, lose.cells[m].paper
        if sw is None or sl is None:  # means published without stds: nothing to test
            return None
        result = welch_from_stats(sign * mw, sw, paper_runs, sign * ml, sl, paper_runs)
    return Significance(dataset, m, source, best_p, best_c, "proposed" if proposed_wins else "competitor", result)
