"""Class-conditional GANs, the Rumi paper's comparison set (§4-5): CGAN-PD, ACGAN and TAC-GAN, on any labelled
dataset (networks: :mod:`gans.conditional`).

Every step: real images with their labels y (the configured sampler over the whole training set; the Rumi
minority case trains them on every class, REFERENCE §4.4), fakes G(z, y_g) with y_g drawn ``fake_labels``:
``uniform`` over the classes (default; ACGAN's and the projection discriminator's reference code) or ``data``
(the training set's class shares). The adversarial loss is the configured one (``loss=``) on D's logit, plus:

- :class:`ProjectionCGAN` (``method=cgan_pd``, Miyato & Koyama 2018): the logit is ψ(φ(x)) + <E_y, φ(x)>, for D's
  and G's adversarial terms alike;
- :class:`ACGAN` (``method=acgan``, Odena et al. 2017): an auxiliary classifier C on φ_D; D adds
  λ·[CE(C(x), y) + CE(C(G(z, y_g)), y_g)], G adds λ·CE(C(G(z, y_g)), y_g);
- :class:`TACGAN` (``method=tacgan``, Gong et al. 2019): C learns the real labels only and a twin classifier
  C_mi the generated ones; D adds λ·[CE(C(x), y) + CE(C_mi(G(z, y_g)), y_g)], G adds
  λ·[CE(C(G(z, y_g)), y_g) − CE(C_mi(G(z, y_g)), y_g)].

λ = ``class_weight`` (1). At evaluation the generator is queried with labels drawn from the dataset's target
distribution (``data.target_weights``: the target class of a Rumi split, as the paper queries "only the target
class"; the balanced classes otherwise). The labels of the latest latent draw are ``noise_labels``: every step
draws its noise right before judging the fakes, so the losses read them there.
"""
from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from typing import Iterator

import torch
import torch.nn.functional as F

from core.errors import ConfigError, require
from gans.conditional import ConditionalGANSpec, with_labels
from gans.method import Batch, GANMethod, RunContext

__all__ = ["ACGAN", "ConditionalGAN", "ProjectionCGAN", "TACGAN"]

FAKE_LABELS = ("uniform", "data")


def class_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy per replica: logits (S, B, K), labels (S, B) -> (S,)."""
    ce = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none")
    return ce.view(labels.shape).mean(-1)


class ConditionalGAN(GANMethod):
    """Shared by the three methods: labelled real batches, labelled noise, target-class generation."""

    requires = frozenset({"labels"})
    requires_hint = "needs class labels: a mixture (labels = modes) or an image dataset with classes"
    heads: tuple[str, ...] = ()

    def __init__(self, regularizers=None, pack: int = 1, fake_labels: str = "uniform", class_weight: float = 1.0):
        super().__init__(regularizers, pack)
        require(self.pack == 1, f"method {type(self).__name__} conditions every sample on its own label; "
                                f"method.pack must be 1, got {pack}")
        require(fake_labels in FAKE_LABELS, f"method.fake_labels must be one of {list(FAKE_LABELS)}, "
                                            f"got {fake_labels!r}")
        require(class_weight >= 0, f"method.class_weight must be >= 0, got {class_weight}")
        self.fake_labels, self.class_weight = fake_labels, float(class_weight)

    def check_loss(self, loss) -> None:
        super().check_loss(loss)
        if loss.gradient_penalty > 0:
            raise ConfigError(f"method {type(self).__name__} does not condition the gradient penalty on the labels; "
                              "use loss=ns, lsgan or hinge")

    def setup(self, ctx: RunContext) -> None:
        data = ctx.data
        require(data.labels is not None and data.num_modes >= 2,
                f"method {type(self).__name__} needs class labels of at least 2 classes; dataset '{data.name}' has "
                f"{'none' if data.labels is None else data.num_modes}: {self.requires_hint}")
        self.num_classes = data.num_modes
        spec = ConditionalGANSpec(ctx.gan, self.num_classes, self.heads)
        super().setup(dataclasses.replace(ctx, gan=spec))
        shares = data.observed_weights if self.fake_labels == "data" else torch.ones(self.num_classes)
        self.training_labels = shares.double().to(ctx.device)
        self.label_weights = self.training_labels
        self.noise_labels: torch.Tensor | None = None

    # ------------------------------------------------------------------ labels
    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """concat(z, one_hot(y)) with y ~ ``label_weights`` (training: ``fake_labels``; generation: the target);
        y is kept in ``noise_labels``."""
        generator = generator or self.ctx.generator
        z = super().noise(n, generator)
        weights = self.label_weights.to(z.device).expand(self.ctx.replicas, -1)
        self.noise_labels = torch.multinomial(weights, n, replacement=True, generator=generator)
        return with_labels(z, self.noise_labels, self.num_classes)

    def real_labels(self, batch: Batch) -> torch.Tensor:
        return self.data.labels[batch.indices]

    @contextmanager
    def labels_from(self, weights: torch.Tensor) -> Iterator[None]:
        """Draw the generator's labels from ``weights`` (K,) inside the block."""
        previous, self.label_weights = self.label_weights, weights.double().to(self.training_labels.device)
        try:
            yield
        finally:
            self.label_weights = previous

    @torch.no_grad()
    def generate(self, n: int, generator: torch.Generator | None = None, chunk: int = 10000,
                 class_weights: torch.Tensor | None = None) -> torch.Tensor:
        """n samples per replica with labels from ``class_weights`` (default: the dataset's target weights)."""
        weights = self.data.target_weights if class_weights is None else torch.as_tensor(class_weights)
        with self.labels_from(weights):
            return super().generate(n, generator, chunk)


class ProjectionCGAN(ConditionalGAN):
    """CGAN-PD: the projection <E_y, φ_D(x)> added to D's logit (see the module docstring)."""

    heads = ("projection",)

    def _projected(self, out: torch.Tensor, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return out + self.D.projection(features, labels)

    def discriminator_adversarial_loss(self, batch: Batch) -> torch.Tensor:
        real = self._projected(batch.real_out, batch.real_features, self.real_labels(batch))
        fake = self._projected(batch.fake_out, batch.fake_features, self.noise_labels)
        return self.loss.d_loss(real, fake, self.real_weights(batch), self.fake_weights(batch))

    def generator_adversarial_loss(self, batch: Batch) -> torch.Tensor:
        return self.loss.g_loss(self._projected(batch.fake_out, batch.fake_features, self.noise_labels))


class ACGAN(ConditionalGAN):
    """ACGAN: the auxiliary classifier learns the real and the generated labels (see the module docstring)."""

    heads = ("auxiliary",)

    def discriminator_adversarial_loss(self, batch: Batch) -> torch.Tensor:
        classes = (class_cross_entropy(self.D.classify(batch.real_features), self.real_labels(batch))
                   + class_cross_entropy(self.D.classify(batch.fake_features), self.noise_labels))
        return super().discriminator_adversarial_loss(batch) + self.class_weight * classes

    def generator_adversarial_loss(self, batch: Batch) -> torch.Tensor:
        classes = class_cross_entropy(self.D.classify(batch.fake_features), self.noise_labels)
        return super().generator_adversarial_loss(batch) + self.class_weight * classes


class TACGAN(ConditionalGAN):
    """TAC-GAN: the classifier learns real labels, its twin generated ones (see the module docstring)."""

    heads = ("auxiliary", "twin")

    def discriminator_adversarial_loss(self, batch: Batch) -> torch.Tensor:
        classes = (class_cross_entropy(self.D.classify(batch.real_features), self.real_labels(batch))
                   + class_cross_entropy(self.D.classify_twin(batch.fake_features), self.noise_labels))
        return super().discriminator_adversarial_loss(batch) + self.class_weight * classes

    def generator_adversarial_loss(self, batch: Batch) -> torch.Tensor:
        classes = (class_cross_entropy(self.D.classify(batch.fake_features), self.noise_labels)
                   - class_cross_entropy(self.D.classify_twin(batch.fake_features), self.noise_labels))
        return super().generator_adversarial_loss(batch) + self.class_weight * classes
