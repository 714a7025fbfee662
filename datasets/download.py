"""Download image datasets into the data root with torchvision's downloaders (which check the MD5s), then verify
and decode them once (the decoded tensors are cached for fast reloads).

    python -m datasets.download mnist fmnist cifar10 celeba [--root ~/.cache/modebench]

The root defaults to ``$MODEBENCH_DATA`` or ``~/.cache/modebench`` (the config's ``data.root``). Runs can also
download on demand with ``dataset.download=true``.
"""
from __future__ import annotations

import argparse
import sys

from datasets import sources
from core.errors import DataError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Download modebench's image datasets (torchvision, MD5-checked).")
    parser.add_argument("datasets", nargs="+", choices=sources.BASES)
    parser.add_argument("--root", default=None, help="data root (default: $MODEBENCH_DATA or ~/.cache/modebench)")
    parser.add_argument("--no-decode", action="store_true", help="only download; skip verification and decoding")
    args = parser.parse_args(argv)
    root = sources.resolve_root(args.root)
    for base in args.datasets:
        try:
            sources.download(base, root)
            if not args.no_decode:
                splits = ("train", "valid", "test") if base == "celeba" else ("train", "test")
                for split in splits:
                    data = sources.load_base(base, "torchvision", root, split)
                    print(f"[modebench] {base}/{split}: {tuple(data['x'].shape)} verified and cached")
        except DataError as exc:
            print(f"modebench: data error: {exc}", file=sys.stderr)
            return 1
    print(f"[modebench] done; data root {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
