"""The static HTML pages of the tables (``python -m sweeps.leaderboard DIR --out PREFIX --html`` and, with
``--paper``, the ours-vs-paper page): contents, sortable tables with steps and seeds per row, a mark where the
budget is not the paper's, the difference from the paper, per table the training curves where its runs recorded
them (mean ± std bands over seeds, sweeps.curve_bands; the figure lies next to the page), a method x dataset grid of figure cards with each
card's metrics, and the provenance collapsed. The cards' figures are copied to ``PREFIX_files/``."""
from __future__ import annotations

import html
import os
import shutil
from pathlib import Path
from typing import Any, Sequence

from core.files import write_text
from sweeps import html_page as hp
from sweeps.board_layout import format_cell, label_columns, split_tables, table_metrics
from sweeps.compare import Comparison, CompareRow, plot_index
from sweeps.curve_bands import BAND_NOTE, CurveFigure
from sweeps.paper_report import any_failed, meta_lines, notes, ours_text, paper_text, steps_text, test_line
from sweeps.records import Record
from sweeps.table import MISSING, Row, format_mean_std


def _fresh_files(path: Path) -> Path:
    files = path.with_name(path.stem + "_files")
    if files.exists():
        shutil.rmtree(files)
    return files


def _copy_plots(files: Path, stem: str, plots: Sequence[tuple[str, Path | None]]) -> list[tuple[str, str]]:
    """Copy each (kind, source) plot to ``files/<stem>_<kind>.png``; returns the (src, alt) of the copies."""
    out = []
    for kind, src in plots:
        if src is None:
            continue
        target = files / f"{stem}_{kind}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
        out.append((f"{files.name}/{target.name}", kind))
    return out


def _seeds_text(row: Row | None) -> str:
    if row is None or not row.seeds:
        return "0"
    seeds = sorted(s for s in row.seeds if s is not None)
    return f"{len(row.seeds)} ({seeds[0]}-{seeds[-1]})" if len(seeds) > 1 else str(len(row.seeds))


def _reproduce(experiment: str, row: Row) -> str:
    """The run.py command that trains ``row`` again (its seeds as replicas), from the row's own keys."""
    keys = dict(zip(("experiment", "dataset", "gan", "loss", "method"), row.group))
    seeds = sorted(s for s in row.seeds if s is not None)
    words = ["python run.py", f"experiment={experiment}", f"dataset={keys['dataset']}", f"method={keys['method']}"]
    if seeds:
        words += [f"seed={seeds[0]}", f"trainer.replicas={len(seeds)}"]
    if len(row.steps) == 1:
        words.append(f"trainer.steps={row.steps[0]}")
    return " ".join(words)


def _curves_sections(curves: dict[str, CurveFigure] | None, table: str, folder: Path) -> list[tuple[str, str, str]]:
    """The training curves of ``table`` as a page section: the figure (written next to the page, in ``folder``) on
    a card as wide as the figure cards; none when its runs recorded no curves (trained before history.csv)."""
    figure = (curves or {}).get(table)
    if figure is None or figure.path is None:
        return []
    name = f"training curves: {figure.table}" if figure.table else "training curves"
    facts = [("curves", html.escape(BAND_NOTE)), ("metric", html.escape(figure.metric or "none"))]
    if figure.without:
        facts.append(("no history.csv", html.escape(", ".join(figure.without))))
    src = Path(os.path.relpath(figure.path, folder)).as_posix()
    return [(hp.anchor("curves", figure.table or "all"), name,
             f"<div class='figures'>{hp.card(name, [(src, name)], facts)}</div>")]


# ============================================================================ ours vs a paper


def paper_page(comp: Comparison, path: str | Path, meta: dict[str, Any] | None = None,
               curves: dict[str, CurveFigure] | None = None) -> Path:
    """The comparison with a paper as a page: per dataset a sortable table (ours, the paper's, the difference,
    steps and seeds), the Welch tests and notes, per dataset its training curves (``curves``, by dataset, from
    sweeps.curve_bands.paper_figures) and a grid of figure cards, and the provenance."""
    path = Path(path)
    files = _fresh_files(path)
    paper = comp.paper
    sections = [(hp.anchor("table", d), f"table: {d}", _paper_table(comp, table)) for d, table in comp.tables.items()]
    sections.append(("tests", "Welch tests", hp.bullet_list([html.escape(test_line(t, paper)) for t in comp.tests])))
    sections.append(("notes", "notes", hp.bullet_list([_note_html(n) for n in notes(comp)], True, "notes")))
    kinds = [(k, f"{name} ({paper.figures[k]})" if k in paper.figures else name)
             for k, name in (("samples", "generated samples"), ("modes", "samples per mode"))]
    for dataset, table in comp.tables.items():
        sections += _curves_sections(curves, dataset, path.parent)
        cards = [_paper_card(comp, r, files) for r in table if r.row is not None]
        sections.append((hp.anchor("figures", dataset), f"figures: {dataset}: " + " and ".join(n for _, n in kinds),
                         f"<div class='figures'>{''.join(cards)}</div>"))
    sections.append(("provenance", "provenance", _provenance(meta, [r.row for t in comp.tables.values() for r in t
                                                                      if r.row is not None], paper.experiment)))
    head = f"<p>Paper: {html.escape(paper.source)}.</p>"
    write_text(path, hp.page(f"{paper.experiment}: ours vs the paper", head, sections))
    return path


def _note_html(note: str) -> str:
    return html.escape(note).replace("**bold**", "<b>bold</b>")


def _paper_table(comp: Comparison, table: list[CompareRow]) -> str:
    paper = comp.paper
    headers = ["method", "steps", "seeds"]
    for m in comp.metrics:
        col = paper.metrics.get(m, m)
        headers += [f"{col} (ours)", f"{col} (paper)", f"{col} (ours − paper)"]
    headers += ["diverged"] + (["failed"] if any_failed(comp) else [])
    rows, classes = [], []
    for r in table:
        differs = r.budget_differs(paper.steps)
        cells = [hp.text(r.display),
                 hp.Td(html.escape(steps_text(r, paper.steps)), sort=r.row.steps[0] if r.row and r.row.steps else "",
                       cls="budget" if differs else "",
                       title=f"the paper trains {paper.steps} steps" if differs else ""),
                 hp.Td(html.escape(_seeds_text(r.row)), sort=r.row.n_completed if r.row else 0)]
        for m in comp.metrics:
            c = r.cells[m]
            diff = c.mean - c.paper[0] if c.mean is not None and c.paper is not None else None
            cells += [hp.Td(ours_text(c, True), sort=c.mean if c.mean is not None else "",
                            cls="outside" if c.outside else ""),
                      hp.Td(paper_text(c, True), sort=c.paper[0] if c.paper else ""),
                      hp.Td(MISSING if diff is None else f"{diff:+.3g}", sort=diff if diff is not None else "",
                            cls="diff")]
        cells.append(hp.text(r.row.n_diverged if r.row else MISSING))
        if any_failed(comp):
            cells.append(hp.text(r.row.n_failed if r.row else MISSING))
        rows.append(cells)
        classes.append("proposed" if r.proposed else "")
    return hp.table(headers, rows, classes)


def _paper_card(comp: Comparison, r: CompareRow, files: Path) -> str:
    stem = f"{r.dataset}_{r.method}{('_' + r.variant_id) if r.variant_id else ''}"
    images = _copy_plots(files, stem, [("samples", r.sample_plot), ("modes", r.modes_plot)])
    facts = [(comp.paper.metrics.get(m, m), f"{ours_text(r.cells[m], True)} (paper {paper_text(r.cells[m], True)})")
             for m in comp.metrics]
    facts += [("steps", html.escape(steps_text(r, comp.paper.steps))), ("seeds", html.escape(_seeds_text(r.row)))]
    if r.plot_seed is not None:
        facts.append(("plots of", f"seed {r.plot_seed}"))
    return hp.card(f"{r.dataset} · {r.display}", images, facts)


def _provenance(meta: dict[str, Any] | None, rows: Sequence[Row], experiment: str) -> str:
    lines = [html.escape(line.replace("`", "")) for line in meta_lines(meta)]
    commands = [f"<code>{html.escape(_reproduce(experiment, r))}</code>" for r in rows]
    inner = (hp.bullet_list(lines) if lines else "<p>no sweep.json metadata was given (--meta)</p>")
    inner += "<p>Each row again, from its own records:</p>" + hp.bullet_list(commands)
    return hp.details("how these numbers were made (click to open)", inner)


# ============================================================================ the leaderboard without a paper


def board_page(rows: Sequence[Row], metrics: Sequence[str], records: Sequence[Record], path: str | Path,
               by: str | None = "dataset", curves: dict[str, CurveFigure] | None = None) -> Path:
    """The leaderboard as a page: a sortable table per value of ``by`` (labels, setting, steps, seeds, metrics,
    diverged, failed), each followed by its training curves (``curves``, by table title, from
    sweeps.curve_bands.board_figures), a figure card per row, and the results files read, collapsed."""
    path = Path(path)
    files = _fresh_files(path)
    plots = plot_index(records)
    sections, cards = [], []
    for title, trows in split_tables(rows, by).items():
        labels = label_columns(trows, by)
        tmetrics = table_metrics(trows, metrics, False)
        headers = labels + ["setting", "steps", "seeds"] + tmetrics + ["diverged", "failed"]
        body = []
        for r in trows:
            cells = [hp.text(r.key(k)) for k in labels] + [hp.text(r.setting_label)]
            cells += [hp.Td(html.escape(" / ".join(map(str, r.steps)) or MISSING), sort=r.steps[0] if r.steps else ""),
                      hp.Td(html.escape(_seeds_text(r)), sort=r.n_completed)]
            for m in tmetrics:
                s = r.metrics[m]
                cells.append(hp.Td(html.escape(format_cell(s, r.n_completed)),
                                   sort=s.mean if isinstance(s.mean, float) else ""))
            cells += [hp.text(r.n_diverged), hp.text(r.n_failed)]
            body.append(cells)
            cards.append(_board_card(r, tmetrics, plots, files))
        name = f"{by}: {title}" if by else "leaderboard"
        sections.append((hp.anchor("table", title or "all"), name, hp.table(headers, body)))
        sections += _curves_sections(curves, title, path.parent)
    sections.append(("figures", "figures (one seed per row)", f"<div class='figures'>{''.join(cards)}</div>"))
    read = sorted({str(r.path) for r in records})
    sections.append(("provenance", "provenance", hp.details(
        f"{len(read)} results file(s) read (click to open)",
        hp.bullet_list([f"<code>{html.escape(p)}</code>" for p in read]))))
    write_text(path, hp.page("leaderboard", "<p>mean (std) over the completed seeds of each row.</p>", sections))
    return path


def _board_card(r: Row, metrics: Sequence[str], plots: dict, files: Path) -> str:
    seed = next((s for s in sorted(x for x in r.seeds if x is not None) if (r.group, r.variant, s) in plots), None)
    found = plots.get((r.group, r.variant, seed), (None, None))
    stem = "_".join(r.group) + (f"_{r.variant_id}" if r.show_variant else "")
    images = _copy_plots(files, stem, [("samples", found[0]), ("modes", found[1])])
    facts = [(m, html.escape(format_mean_std(r.metrics[m].mean, r.metrics[m].std)))
             for m in metrics if isinstance(r.metrics[m].mean, float)]
    facts += [("steps", html.escape(" / ".join(map(str, r.steps)) or MISSING)), ("seeds", html.escape(_seeds_text(r)))]
    if seed is not None:
        facts.append(("plots of", f"seed {seed}"))
    heading = f"{r.key('dataset')} · {r.key('method')}" + (f" [{r.setting_label}]" if r.setting_label else "")
    return hp.card(heading, images, facts)
