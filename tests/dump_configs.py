"""Dump the composed, resolved config of every experiment x method (and sweep job) combination, and compare two
dumps, for config refactors that must not change any run:

    python tests/dump_configs.py dump BEFORE.txt            # on the unmodified tree
    python tests/dump_configs.py dump AFTER.txt             # after the change
    python tests/dump_configs.py compare BEFORE.txt AFTER.txt

``compare`` says for each combination whether the job config (what run.py runs and hashes) and Hydra's sweeper
node are the same (as text, or only up to the order of keys) and which group choices changed; it exits non-zero
if a job config or sweeper node differs in content."""
from __future__ import annotations

import sys
from pathlib import Path

import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf, open_dict

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import datasets  # noqa: E402,F401  (registers the modebench_source resolver)


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (ROOT / "conf" / group).glob("*.yaml"))


def combinations() -> list[list[str]]:
    methods, experiments = _options("method"), _options("experiment")
    combos = [[]] + [[f"method={m}"] for m in methods]
    for e in experiments:
        combos += [[f"experiment={e}"]] + [[f"experiment={e}", f"method={m}"] for m in methods]
    for spec_path in sorted((ROOT / "sweeps").glob("*.yaml")):
        spec = yaml.safe_load(spec_path.read_text())
        combos += [[f"experiment={spec['experiment']}", f"dataset={d}", f"method={m}"]
                   for d in spec["datasets"] for m in spec["methods"]]
    return combos


def dump(overrides: list[str]) -> str:
    try:
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    except Exception as exc:  # a combination that does not compose is part of the record
        return f"ERROR {type(exc).__name__}: {exc}\n"
    sweeper = OmegaConf.to_container(cfg.hydra.sweeper, resolve=False)
    choices = dict(cfg.hydra.runtime.choices)
    with open_dict(cfg):
        del cfg["hydra"]
    try:
        body = OmegaConf.to_yaml(cfg, resolve=True)
    except Exception as exc:
        body = f"ERROR resolving {type(exc).__name__}: {exc}\n"
    return body + "--- hydra.sweeper\n" + yaml.safe_dump(sweeper) + "--- choices\n" + yaml.safe_dump(choices)


def write_dump(out: str) -> None:
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        text = "".join(f"=== {' '.join(o) or '(default)'}\n{dump(o)}" for o in combinations())
    Path(out).write_text(text)
    print(f"{text.count('=== ')} configurations -> {out}")


def _parts(path: str) -> dict[str, dict[str, str]]:
    """combination -> {"config": ..., "hydra.sweeper": ..., "choices": ...} (the texts of one dump)."""
    out = {}
    for block in Path(path).read_text().split("=== ")[1:]:
        name, _, body = block.partition("\n")
        config, _, rest = body.partition("--- hydra.sweeper\n")
        sweeper, _, choices = rest.partition("--- choices\n")
        out[name] = {"config": config, "hydra.sweeper": sweeper, "choices": choices}
    return out


def compare_dumps(before: str, after: str) -> int:
    a, b = _parts(before), _parts(after)
    differing = 0
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            print(f"only in {'after' if name in b else 'before'}: {name}")
            differing += 1
            continue
        notes = []
        for part in ("config", "hydra.sweeper", "choices"):
            if a[name][part] == b[name][part]:
                continue
            old, new = yaml.safe_load(a[name][part] or "{}"), yaml.safe_load(b[name][part] or "{}")
            if old == new:
                notes.append(f"{part}: key order only")
            elif part == "choices":  # which groups were chosen: a new group shows as added
                changed = sorted(k for k in set(old) | set(new) if old.get(k, "<absent>") != new.get(k, "<absent>"))
                notes.append("choices: " + ", ".join(f"{k} {old.get(k, '<absent>')} -> {new.get(k, '<absent>')}"
                                                     for k in changed))
            else:
                notes.append(f"{part}: DIFFERENT")
                differing += 1
        print(f"{name}: {'; '.join(notes) if notes else 'identical'}")
    print(f"{len(set(a) | set(b))} combinations, {differing} with a different config or sweeper node")
    return 1 if differing else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["dump"] and len(sys.argv) == 3:
        write_dump(sys.argv[2])
    elif sys.argv[1:2] == ["compare"] and len(sys.argv) == 4:
        sys.exit(compare_dumps(sys.argv[2], sys.argv[3]))
    else:
        sys.exit(__doc__)
