"""A :class:`sweeps.compare.Comparison` as the committed tables show it: Markdown, CSV, and a static HTML page with
each row's scatter plot and samples-per-mode bars (``python -m sweeps.leaderboard DIR --paper YAML --out PREFIX``
writes ``PREFIX.md``, ``.csv``, ``.html`` and the figures in ``PREFIX_files/``)."""
from __future__ import annotations

import csv
import html
import io
import math
import shutil
from pathlib import Path
from typing import Any

from core.files import write_text
from sweeps.compare import ALPHA, OUTSIDE, STAR, Cell, Comparison, Significance
from sweeps.paper import PaperTable
from sweeps.table import MISSING, format_mean_std


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
    return _decorate(_paper_value(c.paper), c.paper_best, c.paper_star, None, html_out)


def _paper_value(paper: tuple[float, float | None]) -> str:
    """``mean (std)`` as published, or the bare mean when the paper prints no spread."""
    mean, std = paper
    return _fmt_paper(mean) if std is None else f"{_fmt_paper(mean)} ({_fmt_paper(std)})"


def _fmt_paper(x: float) -> str:
    return f"{x:g}"


def _test_line(t: Significance, paper: PaperTable) -> str:
    col = paper.metrics.get(t.metric, t.metric)
    win = t.proposed if t.winner == "proposed" else t.competitor
    lose = t.competitor if t.winner == "proposed" else t.proposed
    def val(r):
        c = r.cells[t.metric]
        return format_mean_std(c.mean, c.std) if t.source == "ours" else _paper_value(c.paper)
    res = t.result
    stat = "no test (zero variance, equal means)" if not math.isfinite(res.p) else \
        f"t = {res.t:.2f}, df = {res.df:.1f}, p = {res.p:.3g}" if math.isfinite(res.t) else f"t = {res.t}, p = {res.p:g}"
    verdict = "significant" if t.significant else "not significant"
    return (f"{t.dataset}, {col} ({t.source}): {win.label} {val(win)} > {lose.label} {val(lose)}: {stat} "
            f"-> {verdict} at {ALPHA}")


def _any_failed(comp: Comparison) -> bool:
    """Whether a row has failed runs: then the tables get a ``failed`` column (a crashed row is not "not run")."""
    return any(r.row is not None and r.row.n_failed for table in comp.tables.values() for r in table)


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
        header += ["n", "diverged"] + (["failed"] if _any_failed(comp) else [])
        out.write("| " + " | ".join(header) + " |\n")
        out.write("|:---|" + "|".join("---:" for _ in header[1:]) + "|\n")
        for r in table:
            cells = [r.display.replace("|", "\\|")]
            for m in comp.metrics:
                cells += [_ours_text(r.cells[m]), _paper_text(r.cells[m])]
            cells += [str(r.row.n_completed) if r.row else "0", str(r.row.n_diverged) if r.row else MISSING]
            cells += [str(r.row.n_failed) if r.row else MISSING] if _any_failed(comp) else []
            out.write("| " + " | ".join(cells) + " |\n")
        out.write("\n")
    out.write("Welch tests (one-tailed, best proposed vs best competitor):\n\n")
    for t in comp.tests:
        out.write(f"- {_test_line(t, paper)}\n")
    out.write("\n" + "\n".join(f"{i}. {n}" for i, n in enumerate(_notes(comp), 1)) + "\n")
    return out.getvalue()


def _notes(comp: Comparison) -> list[str]:
    spread = any(v[1] is not None for table in comp.tables.values() for r in table if r.paper
                 for v in r.paper.values.values())
    notes = [
        "mean (std) over the completed seeds (sample std); the paper's numbers are " +
        (f"mean (std) over {comp.paper.runs} runs." if spread else "single numbers, without a spread (no ± 2 std "
                                                                   "flag and no Welch test on them)."),
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
    header += ["n_failed"] if _any_failed(comp) else []
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
            line += [r.row.n_failed if r.row else ""] if _any_failed(comp) else []
            for m in comp.metrics:
                c = r.cells[m]
                line += [_num(c.mean), _num(c.std), c.n, _num(c.paper[0] if c.paper else None),
                         _num(c.paper[1] if c.paper else None), "" if c.outside is None else c.outside,
                         c.best, c.star, c.paper_star]
            writer.writerow(line)
    text = buf.getvalue()
    if path is not None:
        write_text(Path(path), text)
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
        parts.append("<th>n</th><th>diverged</th>" + ("<th>failed</th>" if _any_failed(comp) else "") + "</tr>")
        for r in table:
            parts.append(f"<tr class='{'proposed' if r.proposed else ''}'><td>{html.escape(r.display)}</td>")
            for m in comp.metrics:
                c = r.cells[m]
                parts.append(_html_cell(_ours_text(c, True), c.outside) + _html_cell(_paper_text(c, True), None))
            parts.append(f"<td>{r.row.n_completed if r.row else 0}</td><td>{r.row.n_diverged if r.row else MISSING}"
                         "</td>" + (f"<td>{r.row.n_failed if r.row else MISSING}</td>" if _any_failed(comp) else "")
                         + "</tr>")
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
    write_text(path, "\n".join(parts))
    return path
