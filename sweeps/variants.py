"""Names for the rows of one group that are different settings: the config keys whose values differ between them
(``trainer.lr_g=0.0002``), instead of their variant hashes.

    setting_labels({"a": cfg_a, "b": cfg_b})   # {"a": "trainer.steps=300", "b": "trainer.steps=2000"}
"""
from __future__ import annotations

import json
from typing import Any, Hashable, Mapping

from engine.records import variant_config

MAX_KEYS = 4  # keys shown in a label; more are summarised as "+k more"
_ABSENT = "(unset)"


def _flatten(node: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(node, dict) and node:
        out: dict[str, str] = {}
        for k, v in node.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: node if isinstance(node, str) else json.dumps(node)}


def setting_labels(configs: Mapping[Hashable, dict | None]) -> dict[Hashable, str]:
    """Each key's label: ``key=value`` for every config key (dotted) whose value is not the same in all
    ``configs``, sorted, at most MAX_KEYS. Empty labels when there is one config or any of them is unknown
    (records without a stored config: the caller falls back to the variant id)."""
    if len(configs) < 2 or any(not isinstance(c, dict) for c in configs.values()):
        return {k: "" for k in configs}
    flat = {k: _flatten(variant_config(c)) for k, c in configs.items()}
    keys = sorted(set().union(*flat.values()))
    differing = [key for key in keys if len({f.get(key, _ABSENT) for f in flat.values()}) > 1]
    labels = {}
    for k, f in flat.items():
        parts = [f"{key}={f.get(key, _ABSENT)}" for key in differing[:MAX_KEYS]]
        if len(differing) > MAX_KEYS:
            parts.append(f"+{len(differing) - MAX_KEYS} more")
        labels[k] = ", ".join(parts)
    return labels
