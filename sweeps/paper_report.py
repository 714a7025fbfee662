"""A :class:`sweeps.compare.Comparison` as the committed tables show it: Markdown and CSV, and the cell texts and
notes the HTML page (sweeps.html_report) shares (``python -m sweeps.leaderboard DIR --paper YAML --out PREFIX``
writes ``PREFIX.md``, ``.csv``, ``.html`` and the figures in ``PREFIX_files/``)."""
from __future__ import annotations

import csv
import html
import io
import math
from pathlib import Path
from typing import Any

from core.files import write_text
from sweeps.compare import ALPHA, OUTSIDE, STAR, Cell, CompareRow, Comparison, Significance
from sweeps.paper import PaperTable
from sweeps.table import MISSING, format_mean_std


def _decorate(text: str, best: bool, star: bool, outside: bool | None, html_out: bool = False) -> str:
    if html_out:
        text = html.escape(text)
        text = f"<b>{text}</b>" if best else text
        return text + (STAR if star else "") + (f" {OUTSIDE}" if outside else "")
    text = f"**{text}**" if best else text
    return text + ("\\" + STAR if star else "") + (f" {OUTSIDE}" if outside else "")


BUDGET = "⚠"  # trained for other steps than the paper's


def steps_text(r: CompareRow, paper_steps: int | None) -> str:
    """Our training steps of a row (``a / b`` when its seeds differ), with BUDGET when they are not the paper's."""
    if r.row is None:
        return MISSING
    text = " / ".join(str(s) for s in r.row.steps) or MISSING
    return text + (f" {BUDGET}" if r.budget_differs(paper_steps) else "")


def ours_text(c: Cell, html_out: bool = False) -> str:
    if c.mean is None:
        return MISSING
    return _decorate(format_mean_std(c.mean, c.std), c.best, c.star, c.outside, html_out)


def paper_text(c: Cell, html_out: bool = False) -> str:
    if c.paper is None:
        return MISSING
    return _decorate(_paper_value(c.paper), c.paper_best, c.paper_star, None, html_out)


def _paper_value(paper: tuple[float, float | None]) -> str:
    """``mean (std)`` as published, or the bare mean when the paper prints no spread."""
    mean, std = paper
    return _fmt_paper(mean) if std is None else f"{_fmt_paper(mean)} ({_fmt_paper(std)})"


def _fmt_paper(x: float) -> str:
    return f"{x:g}"


def test_line(t: Significance, paper: PaperTable) -> str:
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


def any_failed(comp: Comparison) -> bool:
    """Whether a row has failed runs: then the tables get a ``failed`` column (a crashed row is not "not run")."""
    return any(r.row is not None and r.row.n_failed for table in comp.tables.values() for r in table)


def to_markdown(comp: Comparison, meta: dict[str, Any] | None = None) -> str:
    out = io.StringIO()
    paper = comp.paper
    out.write(f"## {paper.experiment}: ours vs the paper\n\n")
    out.write(f"Paper: {paper.source}.\n\n")
    for line in meta_lines(meta):
        out.write(f"- {line}\n")
    if meta:
        out.write("\n")
    for dataset, table in comp.tables.items():
        out.write(f"### dataset: {dataset}\n\n")
        header = ["method", "steps"]
        for m in comp.metrics:
            col = paper.metrics.get(m, m)
            header += [f"{col} (ours)", f"{col} (paper)"]
        header += ["n", "diverged"] + (["failed"] if any_failed(comp) else [])
        out.write("| " + " | ".join(header) + " |\n")
        out.write("|:---|" + "|".join("---:" for _ in header[1:]) + "|\n")
        for r in table:
            cells = [r.display.replace("|", "\\|"), steps_text(r, paper.steps)]
            for m in comp.metrics:
                cells += [ours_text(r.cells[m]), paper_text(r.cells[m])]
            cells += [str(r.row.n_completed) if r.row else "0", str(r.row.n_diverged) if r.row else MISSING]
            cells += [str(r.row.n_failed) if r.row else MISSING] if any_failed(comp) else []
            out.write("| " + " | ".join(cells) + " |\n")
        out.write("\n")
    out.write("Welch tests (one-tailed, best proposed vs best competitor):\n\n")
    for t in comp.tests:
        out.write(f"- {test_line(t, paper)}\n")
    out.write("\n" + "\n".join(f"{i}. {n}" for i, n in enumerate(notes(comp), 1)) + "\n")
    return out.getvalue()


def notes(comp: Comparison) -> list[str]:
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
    if any(r.budget_differs(comp.paper.steps) for table in comp.tables.values() for r in table):
        notes.append(f"{BUDGET}: trained for other steps than the paper's {comp.paper.steps}; compare such rows with "
                     "the paper's numbers with care.")
    for m, why in comp.paper.units.items():
        if m in comp.metrics:
            notes.append(f"{comp.paper.metrics.get(m, m)}: units differ by design, so no {OUTSIDE} flag: {why}.")
    if any(r.paper is None for table in comp.tables.values() for r in table):
        notes.append("rows named by their method config, after the paper's rows, are ours only (not in the "
                     "paper); they count for bold but not for the Welch test.")
    return notes


def meta_lines(meta: dict[str, Any] | None) -> list[str]:
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
    header += ["n_failed"] if any_failed(comp) else []
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
            line += [r.row.n_failed if r.row else ""] if any_failed(comp) else []
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
