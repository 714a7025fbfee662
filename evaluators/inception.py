"""torch-fidelity's Inception-v3 as a feature network, shared by the image metrics (FID, IS, KID, P/R: the
``inception`` feature space of :mod:`metrics.feature_spaces`) and by ``sampler=rls_class`` (RLS on Inception
features, RLS paper §3.3): the weights file lookup, the uint8 RGB conversion and the network wrapper. It sits
with the evaluators because both samplers and metrics may import evaluators, not each other.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterable

import torch

from core.errors import ConfigError
from core.tensors import to_signed_unit

__all__ = ["INCEPTION_ENV", "INCEPTION_NAME", "InceptionSpace", "find_inception_weights", "to_uint8_rgb"]

INCEPTION_NAME = "inception-v3-compat"  # torch-fidelity's name for its TF-compatible Inception-v3
INCEPTION_ENV = "MODEBENCH_INCEPTION_WEIGHTS"  # a local weights file, when no path is configured


def to_uint8_rgb(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (or uint8) -> uint8 RGB (grey images repeated), as torch-fidelity expects.

    Generated floats are quantised like a saved PNG: round((x + 1) * 127.5), clipped; NaN becomes 0.
    """
    if x.dtype != torch.uint8:
        x = torch.nan_to_num(x.float(), nan=-1.0).clamp_(-1.0, 1.0).add_(1.0).mul_(127.5).round_().to(torch.uint8)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    elif x.shape[1] != 3:
        raise ConfigError(f"Inception-v3 takes 1- or 3-channel images, got {x.shape[1]} channels; "
                          "use metrics.features.space=classifier (or sampler.features=evaluator)")
    return x


class InceptionSpace:
    """torch-fidelity's Inception-v3 (``inception-v3-compat``): pool3 ``2048`` features and the unbiased
    logits used for IS, from one forward pass. Images go in as uint8 RGB (grey repeated); torch-fidelity
    resizes them to 299x299 with its TensorFlow-compatible bilinear interpolation. ``resize`` (e.g. 80, the Rumi
    paper's protocol: "rescaled to 80 x 80 using bilinear interpolation", grey replicated to three channels) first
    resizes the images bilinearly to that size, so the features see only that much detail; the paper's Keras
    network then runs on the 80 x 80 input itself, which torch-fidelity's network cannot (it always resizes to
    299), so the numbers follow the protocol's input but not its exact network resolution. The network is loaded on
    first use (per device) and the weights file hashed once; both are kept by this object."""

    outputs = ("features", "logits")
    name = INCEPTION_NAME
    accuracy = None

    def __init__(self, weights_path: str | Path, batch_size: int = 50, resize: int | None = None):
        self.weights_path = str(weights_path)
        self.batch_size = int(batch_size)
        self.resize = None if resize is None else int(resize)
        self._networks: dict[str, torch.nn.Module] = {}  # by device
        self._file_hash: tuple[tuple[int, int], str] | None = None  # ((size, mtime), sha256) of the weights file

    @property
    def cache_id(self) -> tuple:
        return ("inception", self.weights_path, self.resize)

    def fingerprint(self) -> str:
        st = os.stat(self.weights_path)
        stamp = (st.st_size, st.st_mtime_ns)
        if self._file_hash is None or self._file_hash[0] != stamp:
            h = hashlib.sha256()
            with open(self.weights_path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 22), b""):
                    h.update(block)
            self._file_hash = (stamp, h.hexdigest())
        return f"{INCEPTION_NAME}:{self._file_hash[1]}" + (f":resize{self.resize}" if self.resize else "")

    def module(self, device: torch.device) -> torch.nn.Module:
        key = str(device)
        if key not in self._networks:
            from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
            net = FeatureExtractorInceptionV3(INCEPTION_NAME, ["2048", "logits_unbiased"],
                                              feature_extractor_weights_path=self.weights_path)
            self._networks[key] = net.to(device).eval()
        return self._networks[key]

    def compute(self, x: torch.Tensor, which: Iterable[str]) -> dict[str, torch.Tensor]:
        net = self.module(x.device)
        feats, logits = [], []
        with torch.no_grad():
            for start in range(0, x.shape[0], self.batch_size):
                batch = x[start:start + self.batch_size]
                if self.resize:
                    batch = torch.nn.functional.interpolate(to_signed_unit(batch).float(), size=self.resize,
                                                            mode="bilinear", align_corners=False)
                f, lg = net(to_uint8_rgb(batch))
                feats.append(f.to(torch.float64).cpu())
                logits.append(lg.to(torch.float64).cpu())
        return {"features": torch.cat(feats), "logits": torch.cat(logits)}


def find_inception_weights(path: str | None, setting: str = "metrics.features.inception_weights") -> Path | None:
    """The Inception weights file to use, or None when there is none on this machine.

    ``path`` (the config's ``setting``) or ``$MODEBENCH_INCEPTION_WEIGHTS`` must exist when given;
    otherwise torch-fidelity's download cache (``<torch hub dir>/checkpoints/weights-inception-2015-12-05-
    6726825d.pth``, filled by any torch-fidelity run with internet) is used when present.
    """
    for candidate, where in ((path, setting), (os.environ.get(INCEPTION_ENV), f"${INCEPTION_ENV}")):
        if candidate:
            p = Path(candidate).expanduser()
            if not p.is_file():
                raise ConfigError(f"{where} = '{candidate}' is not a file; give the path of torch-fidelity's "
                                  "weights-inception-2015-12-05-6726825d.pth (see README, Image metrics)")
            return p
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(URL_INCEPTION_V3)
    return cached if cached.is_file() else None
