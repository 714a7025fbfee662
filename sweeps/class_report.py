"""Class-count report for image runs (RLS Tables 2-3 style): generated images per class, minority share and KL,
one row per run, and the runs' class histograms side by side.

    python -m sweeps.class_report outputs/rls_mnist012_cpu --out docs/rls_mnist012_cpu_counts

Reads every ``results.json`` below the folders (records with ``class_counts``, from ``metrics=images`` or
``metrics=mnist_classes``), prints the table and writes ``<out>.md`` and ``<out>.png``. Each run's own sample
grid and histogram are in its ``plots/`` folder.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def find_records(folders) -> list[dict]:
    """The records with ``class_counts`` of every results.json below ``folders``, by method then seed."""
    from core.files import read_json
    from engine.records import RESULTS_FILE

    rows = []
    for folder in folders:
        for path in sorted(Path(folder).rglob(RESULTS_FILE)):
            try:
                records = read_json(path)["records"]
            except (OSError, ValueError, KeyError):
                print(f"skipping unreadable {path}", file=sys.stderr)
                continue
            rows += [r for r in records if "class_counts" in r.get("metrics", {})]
    return sorted(rows, key=lambda r: (r["group"]["method"], r["seed"]))


def minority_share(record: dict) -> float:
    """Share of the generated images (other_count included) that the evaluator puts in a minority class."""
    m = record["metrics"]
    total = sum(m["class_counts"]) + m.get("other_count", 0)
    minority = record["config"]["dataset"].get("minority") or []
    return sum(m["class_counts"][c] for c in minority) / max(total, 1)


def table(rows: list[dict]) -> str:
    dataset = rows[0]["config"]["dataset"]
    k = len(rows[0]["metrics"]["class_counts"])
    names = dataset.get("classes") or list(range(k))
    minority = set(dataset.get("minority") or [])
    head = [f"**{n}**" if i in minority else str(n) for i, n in enumerate(names)]
    lines = ["| method | seed | steps | " + " | ".join(head) + " | other | minority share | KL |",
             "|---|---|---|" + "---|" * len(head) + "---|---|---|"]
    for r in rows:
        m = r["metrics"]
        lines.append(f"| {r['group']['method']} | {r['seed']} | {r['timing']['steps']} | "
                     + " | ".join(str(c) for c in m["class_counts"])
                     + f" | {m.get('other_count', '')} | {minority_share(r):.3f} | {m['kl_classes']:.3f} |")
    return "\n".join(lines)


def bar_chart(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(rows[0]["metrics"]["class_counts"])
    fig, ax = plt.subplots(figsize=(1.6 + 1.2 * k, 3.2))
    width = 0.8 / len(rows)
    for j, r in enumerate(rows):
        ax.bar([i + j * width for i in range(k)], r["metrics"]["class_counts"], width,
               label=f"{r['group']['method']} (seed {r['seed']})")
    m = rows[0]["metrics"]
    ax.axhline((sum(m["class_counts"]) + m.get("other_count", 0)) / k, color="k", lw=0.8, ls="--",
               label="balanced target")
    ax.set_xticks([i + 0.4 - width / 2 for i in range(k)], [str(i) for i in range(k)])
    ax.set_xlabel("class (evaluator)")
    ax.set_ylabel("generated images")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    from core.files import write_text

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+")
    parser.add_argument("--out", required=True, help="output prefix (writes <out>.md and <out>.png)")
    args = parser.parse_args()
    rows = find_records(args.folders)
    if not rows:
        sys.exit("no results with class_counts found")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = table(rows)
    print(text)
    write_text(out.with_suffix(".md"), text + "\n")
    bar_chart(rows, out.with_suffix(".png"))


if __name__ == "__main__":
    main()
