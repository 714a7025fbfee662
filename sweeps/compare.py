"""Our results next to a paper's published table: mean (std) beside the paper's, flags, bold, Welch stars, and
Markdown / CSV / HTML outputs (with each method's scatter plot and samples-per-mode bars).

    python -m sweeps.leaderboard multirun/rls_table1 --paper sweeps/paper/rls_table1.yaml --out docs/rls_table1

builds ``docs/rls_table1.md``, ``.csv`` and ``.html`` (+ ``docs/rls_table1_files/`` with the figures). Rules:

- a row per paper row (in the paper's order), matched on (dataset, method) among our runs of the paper's
  ``experiment``; our runs of other methods follow; a paper row we have not run shows ``—``;
- **bold**: the best mean of a column (ours and the paper's separately; ties all bold);
- ``†``: our mean lies outside the paper's mean ± 2 std;
- ``*``: a one-tailed Welch t-test at 0.05 between the best proposed row and the best competitor row (the paper's
  rule): the star goes to whichever is better when the difference is significant; the paper's own numbers
  get the same test from their summary statistics (n = ``runs``).
"""
from __future__ import annotations

import csv
import html
import io
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from sweeps.leaderboard import MISSING, Record, Row, format_mean_std, _atomic_write
from sweeps.paper import LOWER_IS_BETTER, PaperRow, PaperTable, WelchResult, welch_from_stats, welch_test

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
    variant_id: str = ""
    sample_plot: Path | None = None  # plots/samples_seed<k>.png of one of our runs
    modes_plot: Path | None = None
    plot_seed: int | None = None

    @property
    def display(self) -> str:
        text = self.label + (" (proposed)" if self.proposed else "")
        return text + (f" [{self.variant_id}]" if self.variant_id else "")


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


def compare(rows: Sequence[Row], records: Sequence[Record], paper: PaperTable, metrics: Sequence[str] | None = None,
            experiment: str | None = None) -> Comparison:
    """Line our leaderboard rows up with the paper's rows and compute flags, bests and Welch tests.

    ``rows`` come from :func:`sweeps.leaderboard.summarise` (with at least the paper's metrics);
    ``records`` are used to find each row's plots. Only our rows of ``experiment`` (default: the paper's) count.
    """
    metrics = list(metrics or paper.metrics)
    experiment = paper.experiment if experiment is None else experiment
    ours = [r for r in rows if r.key("experiment") == experiment]
    by_key: dict[tuple[str, str], list[Row]] = {}
    for r in ours:
        by_key.setdefault((r.key("dataset"), r.key("method")), []).append(r)
    datasets = list(paper.datasets) + sorted({d for d, _ in by_key} - set(paper.datasets))
    plots = _plot_index(records)
    tables: dict[str, list[CompareRow]] = {}
    for dataset in datasets:
        table: list[CompareRow] = []
        for prow in paper.rows_for(dataset):
            matches = by_key.pop((dataset, prow.method), [])
            for r in matches or [None]:
                table.append(_make_row(dataset, prow.method, prow.label, prow.proposed, r, prow, metrics, plots,
                                       several=len(matches) > 1))
        for (d, method) in sorted(k for k in by_key if k[0] == dataset):
            matches = by_key.pop((d, method))
            for r in matches:
                table.append(_make_row(dataset, method, method, None, r, None, metrics, plots, several=len(matches) > 1))
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


def _make_row(dataset, method, label, proposed, row: Row | None, prow: PaperRow | None, metrics, plots,
              several: bool) -> CompareRow:
    cells = {}
    for m in metrics:
        cell = Cell()
        if row is not None and m in row.metrics and isinstance(row.metrics[m].mean, (int, float)):
            s = row.metrics[m]
            cell.mean, cell.std, cell.n, cell.values = float(s.mean), s.std, s.n, [float(v) for v in s.values]
        if prow is not None and m in prow.values:
            cell.paper = prow.values[m]
            if cell.mean is not None:
                pm, ps = cell.paper
                cell.outside = abs(cell.mean - pm) > 2 * ps + 1e-12
        cells[m] = cell
    out = CompareRow(dataset, method, label, proposed, row, prow, cells, row.variant_id if (row and several) else "")
    if row is not None:
        seeds = sorted(s for s in row.seeds if s is not None)
        for seed in seeds:
            found = plots.get((row.group, row.variant, seed))
            if found:
                out.sample_plot, out.modes_plot, out.plot_seed = found[0], found[1], seed
                break
    return out


def _plot_index(records: Sequence[Record]) -> dict[tuple, tuple[Path | None, Path | None]]:
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
        return c.paper[0] if c.paper else None

    candidates = [r for r in table if r.proposed is not None and mean_of(r) is not None]
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
        result = welch_from_stats(sign * mw, sw, paper_runs, sign * ml, sl, paper_runs)
    return Significance(dataset, m, source, best_p, best_c, "proposed" if proposed_wins else "competitor", result)


# ============================================================================ formatting


def _decorate(text: str, best: bool, star: bool, outside: bool | None, html_out: bool = False) -> str:
    if html_out:
        text = html.escape(text)
        text = f"<b>{text}</b>" if best else text
        return text + (STAR if star else "") + (f" {OUTSIDE}" if outside else "")
    text = f"**{text}**" if best else text
    return text + ("\\" + STAR if star else "") + (f" {OUTSIDE}" if outside else "")


def _ours_text(c: Cell, html_out: bool = False) -> str:
    if c.mean is None:
        return MISSING
    return _decorate(format_mean_std(c.mean, c.std), c.best, c.star, c.outside, html_out)


def _paper_text(c: Cell, html_out: bool = False) -> str:
    if c.paper is None:
        return MISSING
    return _decorate(f"{_fmt_paper(c.paper[0])} ({_fmt_paper(c.paper[1])})", c.paper_best, c.paper_star, None, html_out)


def _fmt_paper(x: float) -> str:
    return f"{x:g}"


def _test_line(t: Significance, paper: PaperTable) -> str:
    col = paper.metrics.get(t.metric, t.metric)
    win = t.proposed if t.winner == "proposed" else t.competitor
    lose = t.competitor if t.winner == "proposed" else t.proposed
    def val(r):
        c = r.cells[t.metric]
        return format_mean_std(c.mean, c.std) if t.source == "ours" else f"{_fmt_paper(c.paper[0])} ({_fmt_paper(c.paper[1])})"
    res = t.result
    stat = "no test (zero variance, equal means)" if not math.isfinite(res.p) else \
        f"t = {res.t:.2f}, df = {res.df:.1f}, p = {res.p:.3g}" if math.isfinite(res.t) else f"t = {res.t}, p = {res.p:g}"
    verdict = "significant" if t.significant else "not significant"
    return (f"{t.dataset}, {col} ({t.source}): {win.label} {val(win)} > {lose.label} {val(lose)}: {stat} "
            f"-> {verdict} at {ALPHA}")


def to_markdown(comp: Comparison, meta: dict[str, Any] | None = None) -> str:
    out = io.StringIO()
    paper = comp.paper
    out.write(f"## {paper.experiment}: ours vs the paper\n\n")
    out.write(f"Paper: {paper.source}.\n\n")
    for line in _meta_lines(meta):
        out.write(f"- {line}\n")
    if meta:
        out.write("\n")
    for dataset, table in comp.tables.items():
        out.write(f"### dataset: {dataset}\n\n")
        header = ["method"]
        for m in comp.metrics:
            col = paper.metrics.get(m, m)
            header += [f"{col} (ours)", f"{col} (paper)"]
        header += ["n", "diverged"]
        out.write("| " + " | ".join(header) + " |\n")
        out.write("|:---|" + "|".join("---:" for _ in header[1:]) + "|\n")
        for r in table:
            cells = [r.display.replace("|", "\\|")]
            for m in comp.metrics:
                cells += [_ours_text(r.cells[m]), _paper_text(r.cells[m])]
            cells += [str(r.row.n_completed) if r.row else "0", str(r.row.n_diverged) if r.row else MISSING]
            out.write("| " + " | ".join(cells) + " |\n")
        out.write("\n")
    out.write("Welch tests (one-tailed, best proposed vs best competitor):\n\n")
    for t in comp.tests:
        out.write(f"- {_test_line(t, paper)}\n")
    out.write("\n" + "\n".join(f"{i}. {n}" for i, n in enumerate(_notes(comp), 1)) + "\n")
    return out.getvalue()


def _notes(comp: Comparison) -> list[str]:
    notes = [
        "mean (std) over the completed seeds (sample std); the paper's numbers are mean (std) over "
        f"{comp.paper.runs} runs.",
        "**bold**: the best mean of the column (ours and the paper's ranked separately).",
        f"{STAR}: one-tailed Welch t-test at {ALPHA} between the best proposed and the best competitor row "
        "(proposed = the paper's own methods); the star marks the significantly better of the two. The paper "
        "column's stars are the same test on the published mean (std).",
        f"{OUTSIDE}: our mean lies outside the paper's mean ± 2 std.",
        f"{MISSING}: not run (ours) or not reported (paper).",
    ]
    if any(r.paper is None for table in comp.tables.values() for r in table):
        notes.append("rows named by their method config, after the paper's rows, are ours only (not in the "
                     "paper); they count for bold but not for the Welch test.")
    return notes


def _meta_lines(meta: dict[str, Any] | None) -> list[str]:
    """Header lines from a sweep.json ``meta``: every command (one or a list), budget, ..., then the notes."""
    if not meta:
        return []
    labels = {"command": "command", "budget": "budget", "seeds": "seeds", "machine": "machine",
              "wall_time": "wall time", "date": "date", "commit": "commit"}
    lines = []
    for key, name in labels.items():
        value = meta.get(key)
        if value in (None, "", []):
            continue
        if key == "command":
            commands = [value] if isinstance(value, str) else list(value)
            lines += [f"{name}: `{c}`" for c in commands]
        else:
            lines.append(f"{name}: {value}")
    lines += [f"note: {n}" for n in meta.get("notes") or []]
    return lines


def to_csv(comp: Comparison, path: str | Path | None = None) -> str:
    header = ["dataset", "method", "label", "proposed", "variant", "n_completed", "n_diverged"]
    for m in comp.metrics:
        header += [f"{m}_mean", f"{m}_std", f"{m}_n", f"{m}_paper_mean", f"{m}_paper_std", f"{m}_outside_2std",
                   f"{m}_best", f"{m}_star", f"{m}_paper_star"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for dataset, table in comp.tables.items():
        for r in table:
            line: list[Any] = [dataset, r.method, r.label, "" if r.proposed is None else r.proposed, r.variant_id,
                               r.row.n_completed if r.row else 0, r.row.n_diverged if r.row else ""]
            for m in comp.metrics:
                c = r.cells[m]
                line += [_num(c.mean), _num(c.std), c.n, _num(c.paper[0] if c.paper else None),
                         _num(c.paper[1] if c.paper else None), "" if c.outside is None else c.outside,
                         c.best, c.star, c.paper_star]
            writer.writerow(line)
    text = buf.getvalue()
    if path is not None:
        _atomic_write(Path(path), text)
    return text


def _num(v) -> str:
    return "" if v is None else repr(float(v))


# ============================================================================ HTML


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.proposed td:first-child { font-style: italic; }
.outside { color: #b00; }
.gallery { display: flex; flex-wrap: wrap; gap: 1em; }
.card { border: 1px solid #ddd; padding: 0.5em; width: 420px; }
.card img { max-width: 100%; display: block; margin-bottom: 0.3em; }
.card h4 { margin: 0 0 0.3em 0; }
.notes { font-size: 0.9em; color: #444; }
"""


def _html_cell(text: str, outside: bool | None) -> str:
    cls = ' class="outside"' if outside else ""
    return f"<td{cls}>{text}</td>"


def to_html(comp: Comparison, path: str | Path, meta: dict[str, Any] | None = None) -> Path:
    """A static page: the tables, the Welch tests, and per dataset a card per method with one seed's scatter
    plot (paper Fig. 3) and samples-per-mode bars (Fig. 4). Figures are copied to ``<name>_files/``."""
    path = Path(path)
    files = path.with_name(path.stem + "_files")
    if files.exists():
        shutil.rmtree(files)
    paper = comp.paper
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(paper.experiment)}: ours vs "
             f"paper</title><style>{_CSS}</style></head><body>",
             f"<h1>{html.escape(paper.experiment)}: ours vs the paper</h1>",
             f"<p>Paper: {html.escape(paper.source)}.</p>"]
    lines = _meta_lines(meta)
    if lines:
        parts.append("<ul>" + "".join(f"<li>{html.escape(line.replace('`', ''))}</li>" for line in lines) + "</ul>")
    for dataset, table in comp.tables.items():
        parts.append(f"<h2>dataset: {html.escape(dataset)}</h2><table><tr><th>method</th>")
        for m in comp.metrics:
            col = html.escape(paper.metrics.get(m, m))
            parts.append(f"<th>{col} (ours)</th><th>{col} (paper)</th>")
        parts.append("<th>n</th><th>diverged</th></tr>")
        for r in table:
            parts.append(f"<tr class='{'proposed' if r.proposed else ''}'><td>{html.escape(r.display)}</td>")
            for m in comp.metrics:
                c = r.cells[m]
                parts.append(_html_cell(_ours_text(c, True), c.outside) + _html_cell(_paper_text(c, True), None))
            parts.append(f"<td>{r.row.n_completed if r.row else 0}</td><td>{r.row.n_diverged if r.row else MISSING}"
                         "</td></tr>")
        parts.append("</table>")
    parts.append("<h3>Welch tests</h3><ul>" + "".join(f"<li>{html.escape(_test_line(t, paper))}</li>"
                                                      for t in comp.tests) + "</ul>")
    parts.append("<ol class='notes'>" + "".join(f"<li>{html.escape(n).replace('**bold**', '<b>bold</b>')}</li>"
                                                for n in _notes(comp)) + "</ol>")
    for dataset, table in comp.tables.items():
        parts.append(f"<h2>{html.escape(dataset)}: generated samples (Fig. 3) and samples per mode (Fig. 4)</h2>"
                     "<div class='gallery'>")
        for r in table:
            if r.row is None:
                continue
            card = [f"<div class='card'><h4>{html.escape(r.display)}</h4>"]
            for kind, src in (("samples", r.sample_plot), ("modes", r.modes_plot)):
                if src is None:
                    continue
                target = files / f"{dataset}_{r.method}{('_' + r.variant_id) if r.variant_id else ''}_{kind}.png"
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, target)
                card.append(f"<img src='{html.escape(files.name)}/{html.escape(target.name)}' alt='{kind}'>")
            if r.sample_plot is None and r.modes_plot is None:
                card.append("<p>no plots saved for this row</p>")
            else:
                card.append(f"<p>seed {r.plot_seed}</p>")
            card.append("</div>")
            parts.append("".join(card))
        parts.append("</div>")
    parts.append("</body></html>")
    _atomic_write(path, "\n".join(parts))
    return path


# ============================================================================ CLI (python -m sweeps.leaderboard --paper)


def main(args, records: Sequence[Record], metrics: Sequence[str] | None) -> int:
    """``python -m sweeps.leaderboard DIR... --paper YAML [--metrics ...] [--out PREFIX] [--meta sweep.json]``."""
    import json
    import sys

    from sweeps.leaderboard import group_records, summarise
    from sweeps.paper import PaperFormatError, load_paper

    try:
        paper = load_paper(args.paper)
    except PaperFormatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    meta = None
    if args.meta:
        try:
            meta = json.loads(Path(args.meta).read_text()).get("meta")
        except (OSError, ValueError) as exc:
            print(f"warning: cannot read {args.meta} ({exc}); no run metadata in the header", file=sys.stderr)
    metrics = list(metrics or paper.metrics)
    rows = summarise(group_records(records), metrics)
    comp = compare(rows, records, paper, metrics)
    if not any(r.row for table in comp.tables.values() for r in table):
        print(f"warning: no completed runs of experiment '{paper.experiment}' under {' '.join(args.dirs)}",
              file=sys.stderr)
    md = to_markdown(comp, meta)
    sys.stdout.write(md)
    if args.out:
        prefix = Path(args.out)
        _atomic_write(prefix.with_name(prefix.name + ".md"), md)
        to_csv(comp, prefix.with_name(prefix.name + ".csv"))
        to_html(comp, prefix.with_name(prefix.name + ".html"), meta)
        print(f"\nwrote {prefix}.md, {prefix}.csv and {prefix}.html", file=sys.stderr)
    return 0
