"""The package layering of docs/architecture.md, checked on the source: every import of a project package (at
module level, inside functions, or through importlib with a literal name) goes only to packages below it, and no
group of modules imports itself back (no import circle, also inside one package)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Each package and the project packages it may import (its own modules always).
ALLOWED = {
    "core": set(),
    "datasets": {"core"},
    "evaluators": {"core", "datasets"},
    "samplers": {"core", "datasets", "evaluators"},
    "metrics": {"core", "datasets", "evaluators"},
    "gans": {"core", "datasets", "samplers"},
    "engine": {"core", "datasets", "evaluators", "samplers", "metrics", "gans"},
    "sweeps": {"core", "engine"},
    "run": {"core", "engine"},
}


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(root: Path, path: Path) -> list[tuple[int, str]]:
    """(line, dotted module name) of every import in ``path``; relative imports resolved against its package."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(root, path) if path.name == "__init__.py" else module_name(root, path).rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append((node.lineno, node.args[0].value))
    return found


def project_files(root: Path) -> list[Path]:
    files = [root / "run.py"] if (root / "run.py").is_file() else []
    for package in sorted(ALLOWED.keys() - {"run"}):
        files += sorted((root / package).rglob("*.py"))
    return files


def layering_violations(root: Path) -> list[str]:
    found = []
    for path in project_files(root):
        owner = path.relative_to(root).parts[0].removesuffix(".py")
        for line, name in imports_of(root, path):
            target = name.split(".")[0]
            if target in ALLOWED and target != owner and target not in ALLOWED[owner]:
                found.append(f"{path.relative_to(root)}:{line} imports {name} "
                             f"({owner} may import {sorted(ALLOWED[owner]) or 'no project package'})")
    return sorted(set(found))


def import_circles(root: Path) -> list[list[str]]:
    """Strongly connected groups of more than one module in the project's import graph (Tarjan)."""
    files = {module_name(root, p): p for p in project_files(root)}

    def resolve(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph = {m: {t for _, n in imports_of(root, p) if (t := resolve(n)) and t != m} for m, p in files.items()}
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(m: str) -> None:
        index[m] = low[m] = len(index)
        stack.append(m)
        on_stack.add(m)
        for t in graph[m]:
            if t not in index:
                visit(t)
                low[m] = min(low[m], low[t])
            elif t in on_stack:
                low[m] = min(low[m], index[t])
        if low[m] == index[m]:
            group = []
            while True:
                t = stack.pop()
                on_stack.discard(t)
                group.append(t)
                if t == m:
                    break
            if len(group) > 1:
                circles.append(sorted(group))

    for m in sorted(graph):
        if m not in index:
            visit(m)
    return circles


def test_every_package_exists():
    assert (ROOT / "run.py").is_file()
    assert [p for p in ALLOWED.keys() - {"run"} if not (ROOT / p / "__init__.py").is_file()] == []


def test_imports_follow_the_layering():
    assert layering_violations(ROOT) == []


def test_no_import_circle():
    assert import_circles(ROOT) == []


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.parent / "__init__.py").touch()
    path.write_text(text)


def test_the_checks_see_a_violation_and_a_circle(tmp_path):
    """The checks themselves, on a small tree: a gans module importing metrics inside a function is a layering
    violation; two datasets modules importing each other (one through importlib) are a circle."""
    _write(tmp_path, "gans/probe.py", "def f():\n    from metrics.modes import ModeCoverage\n    return ModeCoverage\n")
    _write(tmp_path, "metrics/modes.py", "ModeCoverage = None\n")
    _write(tmp_path, "datasets/a.py", "from datasets import b\n")
    _write(tmp_path, "datasets/b.py", "import importlib\nA = importlib.import_module('datasets.a')\n")
    assert layering_violations(tmp_path) == [
        "gans/probe.py:2 imports metrics.modes (gans may import ['core', 'datasets', 'samplers'])",
        "gans/probe.py:2 imports metrics.modes.ModeCoverage (gans may import ['core', 'datasets', 'samplers'])"]
    assert import_circles(tmp_path) == [["datasets.a", "datasets.b"]]
