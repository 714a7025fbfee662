"""Training sets with their mode/class metadata (synthetic mixtures, MNIST family, CIFAR10, CelebA)."""
from omegaconf import OmegaConf


def _resolve_source(source, base, root=None, download=False):
    """OmegaConf resolver ``modebench_source``: what ``dataset.source=auto`` means on this machine (see
    :func:`datasets.sources.resolve_source`); registered here so that any config resolution can use it."""
    from datasets.sources import resolve_source

    return resolve_source(source, base, root, download)


if not OmegaConf.has_resolver("modebench_source"):
    OmegaConf.register_new_resolver("modebench_source", _resolve_source)
