"""Leaderboard: collect every ``results.json`` under some directories and compare methods, mean (std) over seeds.

Usage::

    python -m sweeps.leaderboard DIR [DIR ...] [--metrics nb_modes hq_fraction ...] [--out PREFIX [--html]] [--by dataset]
    python -m sweeps.leaderboard DIR [DIR ...] --paper sweeps/paper/<table>.yaml [--meta sweep.json] [--out PREFIX]

The steps are small functions of their own modules::

    records = load_records(dirs)                 # sweeps.records: every record of every readable results.json
    records, superseded = deduplicate(records)   # one record per (group, variant, seed): newest file wins
    rows = summarise(group_records(records), metrics)   # sweeps.table: one Row per (group, variant)
    print(to_markdown(rows, metrics))  ;  to_csv(rows, metrics, path)   # this module

A *group* is (experiment, dataset, gan, loss, method). Records of one group with different ``variant``
(hash of the config without seed/replicas) are different settings and get separate rows, named by the config
keys that differ between them (sweeps.variants; a short variant id when the records hold no config). Only ``completed`` records enter the means; ``diverged`` and ``failed`` ones are counted.
With ``--paper`` the table is ours beside a paper's published numbers (sweeps.compare, sweeps.paper_report).
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Sequence

from core.files import read_json, unwritable_reason, write_text
from sweeps import curve_bands, html_report, paper_report
from sweeps.board_layout import format_cell, label_columns, split_tables, table_metrics
from sweeps.compare import compare_records
from sweeps.paper import PaperFormatError, load_paper
from sweeps.records import (GROUP_KEYS, LeaderboardWarning, Record, deduplicate, group_records, load_records,
                            pool_variants, warn)
from sweeps.table import MISSING, VARIANT_CHARS, Row, default_metrics, summarise


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(
    rows: Sequence[Row],
    metrics: Sequence[str],
    *,
    by: str | None = "dataset",
    explicit_metrics: bool = False,
    superseded: int = 0,
) -> str:
    """A Markdown table per value of ``by`` (``None``: one table), rows = methods, plus footnotes.

    Without ``explicit_metrics`` a table only shows the metrics some of its rows have (toy and image
    datasets have different metrics).
    """
    out = io.StringIO()
    any_variant = any(r.show_variant for r in rows)
    any_partial = False
    for title, trows in split_tables(rows, by).items():
        labels = label_columns(trows, by)
        tmetrics = table_metrics(trows, metrics, explicit_metrics)
        show_variant = any(r.show_variant for r in trows)
        header = labels + (["variant"] if show_variant else []) + tmetrics + ["n", "diverged", "failed"]
        if title:
            out.write(f"### {by}: {_md_escape(title)}\n\n")
        out.write("| " + " | ".join(_md_escape(h) for h in header) + " |\n")
        out.write("|" + "|".join(":---" if i < len(labels) + show_variant else "---:" for i in range(len(header))) + "|\n")
        for r in trows:
            cells = [r.key(k) for k in labels]
            if show_variant:
                cells.append(r.setting_label)
            for m in tmetrics:
                s = r.metrics[m]
                any_partial |= s.mean is not None and s.n != r.n_completed
                cells.append(format_cell(s, r.n_completed))
            cells += [str(r.n_completed), str(r.n_diverged), str(r.n_failed)]
            out.write("| " + " | ".join(_md_escape(c) for c in cells) + " |\n")
        out.write("\n")
    notes = [
        "mean (std) over the completed seeds of each row; std is the sample std (ddof=1), "
        f"{MISSING} when only one seed completed.",
        "`n` counts completed runs; diverged and failed runs are counted in their columns and "
        "excluded from the means.",
    ]
    if any_partial:
        notes.append("[n=k]: the metric was missing or non-finite in some completed runs; k runs were averaged.")
    if any_variant:
        notes.append(
            f"variant: first {VARIANT_CHARS} characters of the config hash without seed/replicas; rows of one "
            "group with different variants are different settings."
        )
    if superseded:
        notes.append(f"{superseded} duplicate record(s) (same group, variant and seed) were replaced by newer files.")
    out.write("\n".join(f"{i}. {n}" for i, n in enumerate(notes, 1)) + "\n")
    return out.getvalue()


def to_csv(rows: Sequence[Row], metrics: Sequence[str], path: str | os.PathLike | None = None) -> str:
    """One CSV row per (group, variant) with ``<metric>_mean``, ``<metric>_std``, ``<metric>_n`` columns.

    Numbers are written at full precision; list-valued means/stds are JSON lists; a missing std is empty.
    Returns the CSV text and writes it to ``path`` (atomically) when given.
    """
    header = list(GROUP_KEYS) + ["variant", "n_completed", "n_diverged", "n_failed", "seeds"]
    for m in metrics:
        header += [f"{m}_mean", f"{m}_std", f"{m}_n"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for r in rows:
        line: list[Any] = list(r.group) + [
            r.variant, r.n_completed, r.n_diverged, r.n_failed, " ".join(str(s) for s in r.seeds)
        ]
        for m in metrics:
            s = r.metrics[m]
            line += [_csv_value(s.mean), _csv_value(s.std), s.n]
        writer.writerow(line)
    text = buf.getvalue()
    if path is not None:
        write_text(path, text)
    return text


def _csv_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, list):
        return json.dumps(v)
    return repr(float(v))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sweeps.leaderboard",
        description="Compare methods across runs: mean (std) over seeds of every results.json under DIRs.",
    )
    p.add_argument("dirs", nargs="+", metavar="DIR", help="run/sweep directories searched recursively for results.json")
    p.add_argument(
        "--metrics", nargs="+", metavar="NAME", default=None,
        help="metrics to show (default: every scalar metric present; list-valued ones such as mode_counts "
             "only when named; timing.<key> reads the timing block)",
    )
    p.add_argument("--out", metavar="PREFIX", default=None, help="also write PREFIX.md and PREFIX.csv")
    p.add_argument("--html", action="store_true",
                   help="with --out: also write PREFIX.html, a page with contents, sortable tables and the figures "
                        "(always written with --paper)")
    p.add_argument(
        "--paper", metavar="YAML", default=None,
        help="compare with a paper's published table (sweeps/paper/*.yaml): our mean (std) beside the paper's, "
             "flags, bold, Welch stars; --out then also writes PREFIX.html with the figures (sweeps.compare)",
    )
    p.add_argument("--meta", metavar="JSON", default=None,
                   help="with --paper: a sweep.json whose command, budget, seeds, machine and wall time head the table")
    p.add_argument("--pool", nargs="+", metavar="KEY", default=(),
                   help="config keys to average over: runs that differ only in them share a row (e.g. dataset.number "
                        "for a table averaged over every digit as the minority class)")
    p.add_argument(
        "--by", default="dataset", choices=list(GROUP_KEYS) + ["none"],
        help="one table per value of this group key (default: dataset; 'none' for a single table)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status (0 ok, 1 no records, 2 bad arguments/paths)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.html and not args.out:
        parser.error("--html needs --out PREFIX (the page is written to PREFIX.html)")
    problem = unwritable_reason(Path(args.out).absolute().parent) if args.out else None
    if problem:
        print(f"error: --out {args.out}: its folder cannot be created ({problem}); choose another prefix",
              file=sys.stderr)
        return 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LeaderboardWarning)
        try:
            records = load_records(args.dirs)
        except FileNotFoundError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        records, superseded = deduplicate(records)
        if args.pool:
            records = pool_variants(records, args.pool)
        explicit = args.metrics is not None
        metrics = list(dict.fromkeys(args.metrics)) if explicit else default_metrics(records)
        if args.paper:  # ours beside a paper's published table: sweeps.compare, written by sweeps.paper_report
            return paper_table(records, paper_file=args.paper, metrics=metrics if explicit else None,
                               meta_file=args.meta, out=args.out, searched=args.dirs)
        rows = summarise(group_records(records), metrics)
        if explicit:
            for m in metrics:
                if not any(r.metrics[m].n for r in rows):
                    warn(f"metric {m!r} was not found (finite) in any completed record")
    for w in caught:
        if issubclass(w.category, LeaderboardWarning):
            print(f"warning: {w.message}", file=sys.stderr)
        else:  # pragma: no cover - foreign warnings keep their usual display
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    if not records:
        print(f"error: no readable results.json records under {' '.join(args.dirs)}", file=sys.stderr)
        return 1
    by = None if args.by == "none" else args.by
    md = to_markdown(rows, metrics, by=by, explicit_metrics=explicit, superseded=len(superseded))
    sys.stdout.write(md)
    if args.out:
        curves = curve_bands.board_figures(rows, metrics, records, by, args.out)
        write_text(_suffixed(args.out, ".md"), md + curve_bands.markdown_links(curves))
        to_csv(rows, metrics, _suffixed(args.out, ".csv"))
        if args.html:
            html_report.board_page(rows, metrics, records, _suffixed(args.out, ".html"), by, curves)
        print(f"\nwrote {args.out}.md, {args.out}.csv" + (f", {args.out}.html" if args.html else "")
              + _curves_text(curves), file=sys.stderr)
    return 0


def paper_table(records: Sequence[Record], *, paper_file: str | Path, metrics: Sequence[str] | None = None,
                meta_file: str | Path | None = None, out: str | Path | None = None,
                searched: Sequence[str] = ()) -> int:
    """Print (and with ``out`` write as ``<out>.md/.csv/.html``) the comparison of ``records`` with the paper
    table in ``paper_file``; ``meta_file``: a sweep.json whose ``meta`` heads the table. Returns the exit status."""
    try:
        paper = load_paper(paper_file)
    except PaperFormatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    meta = None
    if meta_file:
        try:
            meta = read_json(meta_file).get("meta")
        except (OSError, ValueError) as exc:
            print(f"warning: cannot read {meta_file} ({exc}); no run metadata in the header", file=sys.stderr)
    comp = compare_records(records, paper=paper, metrics=metrics)
    if not any(r.row for table in comp.tables.values() for r in table):
        print(f"warning: no completed runs of experiment '{paper.experiment}' under {' '.join(map(str, searched))}",
              file=sys.stderr)
    md = paper_report.to_markdown(comp, meta)
    sys.stdout.write(md)
    if out:
        curves = curve_bands.paper_figures(comp, records, out)
        write_text(_suffixed(out, ".md"), md + curve_bands.markdown_links(curves))
        paper_report.to_csv(comp, _suffixed(out, ".csv"))
        html_report.paper_page(comp, _suffixed(out, ".html"), meta, curves)
        print(f"\nwrote {out}.md, {out}.csv, {out}.html" + _curves_text(curves), file=sys.stderr)
    return 0


def _curves_text(curves: dict[str, curve_bands.CurveFigure]) -> str:
    """Where the training-curves figures went, for the "wrote ..." line."""
    written = [str(f.path) for f in curves.values() if f.path is not None]
    return f" and the training curves {', '.join(written)}" if written else " (no training curves: no history.csv)"


def _suffixed(prefix: str | Path, suffix: str) -> Path:
    """``PREFIX`` + suffix (a prefix may contain dots: ``docs/table.v2`` -> ``docs/table.v2.md``)."""
    prefix = Path(prefix)
    return prefix.with_name(prefix.name + suffix)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
