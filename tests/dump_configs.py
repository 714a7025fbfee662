"""Dump the composed, resolved config of every experiment x method (and sweep job) combination, for comparing
config refactors: python tests/dump_configs.py OUT.yaml; then diff two dumps."""
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


def main(out: str) -> None:
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        text = "".join(f"=== {' '.join(o) or '(default)'}\n{dump(o)}" for o in combinations())
    Path(out).write_text(text)
    print(f"{text.count('=== ')} configurations -> {out}")


if __name__ == "__main__":
    main(sys.argv[1])
