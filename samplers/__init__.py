"""Which real samples form a batch: uniform, fixed weights (RLS on a kernel or a feature network), RLS on the
discriminator's features, Dia-GAN's discrepancy scores, MWU weights."""
from omegaconf import OmegaConf


def _resolve_rls_features(features, inception_weights=None):
    """OmegaConf resolver ``modebench_rls_features``: what ``sampler.features=auto`` of ``sampler=rls_class`` means
    on this machine (see :func:`samplers.rls_class.resolve_features`); registered here so that any config
    resolution can use it."""
    from samplers.rls_class import resolve_features

    return resolve_features(features, inception_weights)


if not OmegaConf.has_resolver("modebench_rls_features"):
    OmegaConf.register_new_resolver("modebench_rls_features", _resolve_rls_features)
