"""Building blocks of the static result pages (no server, no external files): a page with its contents and
anchors, tables sortable by a click on a header (a few lines of inline JavaScript), collapsed sections, and a
grid of figure cards.

    page("rls_table1", [("table-ring", "ring", table_html)], head_html)   # the whole document
    table(["method", "nb_modes"], [[Td("vanilla"), Td("7.4 (0.9)", sort=7.4)]])
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Sequence

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1800px; }
nav.contents { background: #f6f6f6; border: 1px solid #ddd; padding: 0.5em 1.5em; display: inline-block; }
nav.contents ul { margin: 0.3em 0; padding-left: 1.2em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
td:not(:first-child) { white-space: nowrap; }
table.sortable th { cursor: pointer; background: #f0f0f0; user-select: none; }
table.sortable th[aria-sort=ascending]::after { content: " \\25B2"; }
table.sortable th[aria-sort=descending]::after { content: " \\25BC"; }
tr.proposed td:first-child { font-style: italic; }
.outside { color: #b00; }
.budget { background: #fff3cd; }
.diff { color: #555; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 1em; }
.card { border: 1px solid #ddd; padding: 0.6em; }
.card img { width: 100%; display: block; margin-bottom: 0.4em; }
.card h4 { margin: 0 0 0.3em 0; }
.card dl { display: grid; grid-template-columns: max-content auto; gap: 0 1em; margin: 0.3em 0; font-size: 0.9em; }
.card dt { color: #555; }
.card dd { margin: 0; }
.notes { font-size: 0.9em; color: #444; }
details { margin: 1em 0; }
summary { cursor: pointer; font-weight: bold; }
"""

SORT_JS = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("thead th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var up = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("thead th").forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", up ? "ascending" : "descending");
      var key = function (tr) {
        var cell = tr.children[col], v = cell.getAttribute("data-sort");
        if (v === null) { v = cell.textContent; }
        var n = parseFloat(v);
        return isNaN(n) ? v : n;
      };
      var body = table.tBodies[0];
      Array.from(body.rows).sort(function (a, b) {
        var x = key(a), y = key(b);
        var r = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y));
        return up ? r : -r;
      }).forEach(function (tr) { body.appendChild(tr); });
    });
  });
});
"""


@dataclass
class Td:
    """A table cell: its HTML, the value it sorts by (None: its text) and a CSS class."""

    html: str
    sort: float | str | None = None
    cls: str = ""
    title: str = ""

    def render(self) -> str:
        attrs = (f' class="{self.cls}"' if self.cls else "") + (f' title="{html.escape(self.title)}"' if self.title
                                                                 else "")
        if self.sort is not None:
            attrs += f' data-sort="{html.escape(str(self.sort))}"'
        return f"<td{attrs}>{self.html}</td>"


def text(value) -> Td:
    """A plain-text cell."""
    return Td(html.escape(str(value)))


def anchor(*parts: str) -> str:
    """An id made of ``parts`` (letters, digits, ``-`` and ``_``), e.g. ``anchor("table", "ring")`` -> table-ring."""
    return "-".join(re.sub(r"[^A-Za-z0-9_]+", "_", p) for p in parts)


def table(headers: Sequence[str], rows: Sequence[Sequence[Td]], row_classes: Sequence[str] = ()) -> str:
    """A sortable table (click a header to sort by it; again to reverse)."""
    out = ["<table class='sortable'><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in headers)
           + "</tr></thead><tbody>"]
    for i, cells in enumerate(rows):
        cls = row_classes[i] if i < len(row_classes) and row_classes[i] else ""
        out.append((f"<tr class='{cls}'>" if cls else "<tr>") + "".join(c.render() for c in cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def details(summary: str, inner: str) -> str:
    """A section collapsed by default."""
    return f"<details><summary>{html.escape(summary)}</summary>{inner}</details>"


def bullet_list(lines: Sequence[str], ordered: bool = False, cls: str = "") -> str:
    """Lines (already HTML) as a list."""
    tag = "ol" if ordered else "ul"
    return f"<{tag}{f' class={chr(39)}{cls}{chr(39)}' if cls else ''}>" + "".join(f"<li>{x}</li>" for x in lines) \
        + f"</{tag}>"


def card(heading: str, images: Sequence[tuple[str, str]], facts: Sequence[tuple[str, str]]) -> str:
    """A figure card: a heading, images (src, alt) at the card's width, then facts (name, HTML value)."""
    body = "".join(f"<img src='{html.escape(src)}' alt='{html.escape(alt)}' loading='lazy'>" for src, alt in images)
    if not images:
        body = "<p>no plots saved for this row</p>"
    dl = "<dl>" + "".join(f"<dt>{html.escape(k)}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"
    return f"<div class='card'><h4>{html.escape(heading)}</h4>{body}{dl}</div>"


def page(title: str, head: str, sections: Sequence[tuple[str, str, str]]) -> str:
    """The document: ``head`` (HTML under the title), a contents list linking every section, then the sections
    (anchor id, heading, HTML body), each an ``<h2 id=...>``."""
    nav = "<nav class='contents'><b>Contents</b>" + bullet_list(
        [f"<a href='#{sid}'>{html.escape(name)}</a>" for sid, name, _ in sections]) + "</nav>"
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{CSS}</style></head><body>", f"<h1>{html.escape(title)}</h1>", head, nav]
    parts += [f"<section><h2 id='{sid}'>{html.escape(name)}</h2>{body}</section>" for sid, name, body in sections]
    parts.append(f"<script>{SORT_JS}</script></body></html>")
    return "\n".join(parts)
