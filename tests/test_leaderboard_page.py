"""The leaderboard's HTML pages, parsed: contents linking to anchors, sortable tables with steps and seeds, the
budget mark, rows named by the config keys that differ, figure cards with metrics, provenance collapsed, the
paper's own figure numbers and the units note instead of the ± 2 std flag."""
from __future__ import annotations

import json
import os
from html.parser import HTMLParser
from pathlib import Path

import pytest

from sweeps import leaderboard as lb
from sweeps.variants import setting_labels

REPO = Path(__file__).resolve().parents[1]
T0 = 1_700_000_000


class Page(HTMLParser):
    """Ids, links, tables (header texts and row cell texts), details/summary and script presence of a page."""

    def __init__(self, text: str):
        super().__init__()
        self.ids, self.links, self.tables, self.open_details, self.details, self.scripts = set(), [], [], [], 0, 0
        self.h2, self.cards, self.images = [], [], []
        self._cell, self._row, self._in = None, None, []
        self.text = text
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and a.get("href", "").startswith("#"):
            self.links.append(a["href"][1:])
        if tag == "table":
            self.tables.append({"class": a.get("class", ""), "head": [], "rows": []})
        if tag == "tr":
            self._row = []
        if tag in ("td", "th"):
            self._cell = {"text": "", "attrs": a, "tag": tag}
        if tag == "details":
            self.details += 1
            self.open_details.append("open" in a)
        if tag == "script":
            self.scripts += 1
        if tag == "img":
            self.images.append(a["src"])
        self._in.append(tag)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(self._cell)
            self._cell = None
        if tag == "tr" and self._row is not None:
            table = self.tables[-1]
            if all(c["tag"] == "th" for c in self._row):
                table["head"] = [c["text"] for c in self._row]
            else:
                table["rows"].append(self._row)
            self._row = None
        if self._in:
            self._in.pop()

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data
        if self._in and self._in[-1] == "h2":
            self.h2.append(data)
        if self._in and self._in[-1] == "h4":
            self.cards.append(data)


def _rec(dataset, method, seed, steps, lr, nb):
    cfg = {"seed": seed, "trainer": {"steps": steps, "replicas": 1, "threads": 1}, "gan": {"lr_g": lr},
           "logger": {"_target_": "x"}}
    return {"status": "completed", "seed": seed, "variant": f"{steps}-{lr}", "config": cfg,
            "group": {"experiment": "rls_table1", "dataset": dataset, "gan": "mlp", "loss": "ns", "method": method},
            "metrics": {"nb_modes": nb, "hq_fraction": 0.5 + 0.01 * seed}, "timing": {"steps": steps}}


def _sweep(root: Path) -> Path:
    runs = {("ring", "vanilla", 30000, 1e-4): [5, 6], ("ring", "vanilla", 30000, 1e-3): [7, 8],
            ("ring", "bures", 500, 1e-4): [6, 7], ("grid", "vanilla", 30000, 1e-4): [20, 22]}
    for i, ((dataset, method, steps, lr), values) in enumerate(runs.items()):
        folder = root / str(i)
        folder.mkdir(parents=True)
        (folder / "results.json").write_text(json.dumps(
            {"records": [_rec(dataset, method, s, steps, lr, v) for s, v in enumerate(values)]}))
        os.utime(folder / "results.json", (T0, T0))
        (folder / "plots").mkdir()
        (folder / "plots" / "samples_seed0.png").write_bytes(b"\x89PNG")
        (folder / "plots" / "modes_seed0.png").write_bytes(b"\x89PNG")
    return root


def _common(page: Page):
    assert page.scripts == 1 and "table.sortable" in page.text
    assert page.links and set(page.links) <= page.ids  # every contents entry reaches its section
    assert page.details >= 1 and not any(page.open_details)  # provenance collapsed
    assert all(t["class"] == "sortable" for t in page.tables)


def test_setting_labels_name_the_differing_keys_and_ignore_seeds_and_threads():
    a = {"seed": 0, "trainer": {"steps": 300, "threads": 1}, "gan": {"lr_g": 1e-4, "width": 128}}
    b = {"seed": 5, "trainer": {"steps": 300, "threads": 4}, "gan": {"lr_g": 1e-3, "width": 128}}
    assert setting_labels({"a": a, "b": b}) == {"a": "gan.lr_g=0.0001", "b": "gan.lr_g=0.001"}
    assert setting_labels({"a": a, "b": None}) == {"a": "", "b": ""}  # unknown config: the caller uses the id


def test_board_page_without_a_paper(tmp_path):
    sweep = _sweep(tmp_path / "runs")
    out = tmp_path / "out" / "board"
    assert lb.main([str(sweep), "--out", str(out), "--html"]) == 0
    page = Page(out.with_suffix(".html").read_text(encoding="utf-8"))
    _common(page)
    assert {"table-grid", "table-ring", "figures", "provenance"} <= page.ids
    ring = next(t for t in page.tables if any(c["text"] == "bures" for r in t["rows"] for c in r))
    assert ring["head"][:4] == ["method", "setting", "steps", "seeds"]
    settings = sorted(r[1]["text"] for r in ring["rows"])
    assert settings == ["", "gan.lr_g=0.0001", "gan.lr_g=0.001"]  # named by the key that differs, not a hash
    steps = {r[0]["text"] + r[1]["text"]: r[2]["text"] for r in ring["rows"]}
    assert steps == {"bures": "500", "vanillagan.lr_g=0.0001": "30000", "vanillagan.lr_g=0.001": "30000"}
    nb = ring["head"].index("nb_modes")
    assert all("data-sort" in r[nb]["attrs"] for r in ring["rows"])
    assert len(page.cards) == 4 and len(page.images) == 8
    assert all((out.parent / src).is_file() for src in page.images)
    md = out.with_suffix(".md").read_text(encoding="utf-8")
    assert "| vanilla | gan.lr_g=0.001 |" in md


def test_html_needs_an_output_prefix(tmp_path, capsys):
    try:
        lb.main([str(_sweep(tmp_path / "runs")), "--html"])
    except SystemExit as exc:
        assert exc.code == 2
    assert "--html needs --out" in capsys.readouterr().err


def test_paper_page_marks_budgets_uses_the_papers_figures_and_units(tmp_path):
    sweep = _sweep(tmp_path / "runs")
    out = tmp_path / "out" / "t1"
    assert lb.main([str(sweep), "--paper", str(REPO / "sweeps/paper/rls_table1.yaml"), "--out", str(out)]) == 0
    page = Page(out.with_suffix(".html").read_text(encoding="utf-8"))
    _common(page)
    assert {"table-ring", "table-grid", "tests", "notes", "figures-ring", "provenance"} <= page.ids
    assert any("Fig. 3" in h and "Fig. 4" in h for h in page.h2)  # the RLS paper's figure numbers, from its file
    ring = next(t for t in page.tables if t["rows"] and "Nb modes (ours − paper)" in t["head"])
    by_label = {r[0]["text"]: r for r in ring["rows"]}
    bures = next(r for label, r in by_label.items() if label.startswith("BuresGAN"))
    assert bures[1]["text"] == "500 ⚠" and bures[1]["attrs"]["class"] == "budget"
    vanilla = [r for label, r in by_label.items() if label.startswith("GAN [")]
    assert sorted(r[0]["text"] for r in vanilla) == ["GAN [gan.lr_g=0.0001]", "GAN [gan.lr_g=0.001]"]
    assert all(r[1]["text"] == "30000" and not r[1]["attrs"].get("class") for r in vanilla)
    diff = ring["head"].index("Nb modes (ours − paper)")
    assert float(bures[diff]["text"]) == pytest.approx(6.5 - 5.8)
    assert "<dataset>" not in page.text and "=&lt;D&gt;" not in page.text
    assert "python run.py experiment=rls_table1 dataset=ring method=bures seed=0 trainer.replicas=2 " \
           "trainer.steps=500" in page.text


def test_a_metric_with_other_units_gets_a_note_not_the_flag(tmp_path):
    root = tmp_path / "runs" / "0"
    root.mkdir(parents=True)
    recs = [dict(_rec("ring_veegan", "veegan", s, 25000, 1e-4, 8), metrics={"nb_modes": 8, "hq_fraction": 0.6,
                                                                              "jsd": 0.9 + s}) for s in range(2)]
    for r in recs:
        r["group"]["experiment"] = "diw_table1"
    (root / "results.json").write_text(json.dumps({"records": recs}))
    out = tmp_path / "out" / "diw"
    assert lb.main([str(root.parent), "--paper", str(REPO / "sweeps/paper/diw_table1.yaml"), "--out", str(out)]) == 0
    md = out.with_suffix(".md").read_text(encoding="utf-8")
    row = next(line for line in md.splitlines() if line.startswith("| VEEGAN |"))
    assert "1.40 (0.71)** |" in row and "†" not in row  # far outside the paper's 0.19 ± 2 std, no flag
    assert "JSD: units differ by design" in md and "⚠" not in row  # 25000 steps: the paper's budget
