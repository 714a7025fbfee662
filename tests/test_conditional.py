"""Class-conditional GANs (gans/conditional.py, gans/cgan.py): the ACGAN and TAC-GAN losses and the projection term
against manual computations in numpy, the generator's label input, and a brief training on a labelled mixture."""
import numpy as np
import pytest
import torch

from conftest import build_method

RING = ["dataset=ring_balanced", "trainer.batch_size=32"]


def log_softmax(logits):
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def cross_entropy(logits, labels):
    """Mean -log softmax(logits)[label] per replica: logits (S, B, K), labels (S, B) -> (S,)."""
    picked = np.take_along_axis(log_softmax(logits), labels[..., None], -1)[..., 0]
    return -picked.mean(-1)


def softplus(x):
    return np.logaddexp(0.0, x)


def linear(layer, features):
    """A ReplicatedLinear by hand: features (S, B, m) @ weight (S, m, K) + bias (S, 1, K)."""
    w, b = layer.weight.detach().double().numpy(), layer.bias.detach().double().numpy()
    return np.einsum("sbm,smk->sbk", features, w) + b


def judged(overrides):
    """A set-up method with one judged batch (real with labels, fakes with their noise labels), in numpy."""
    method, data = build_method(RING + overrides)
    indices, real = method.real_batch()
    fake = method.G(method.noise(real.shape[1]))
    batch = method.judged_batch(indices, real, fake)
    arrays = {name: getattr(batch, name).detach().double().numpy()
              for name in ("real_out", "fake_out", "real_features", "fake_features")}
    arrays["y"] = data.labels[indices].numpy()
    arrays["y_fake"] = method.noise_labels.numpy()
    return method, batch, arrays


def test_the_generator_input_is_the_noise_with_a_one_hot_label():
    from gans.conditional import with_labels

    z = torch.randn(2, 5, 3)
    labels = torch.tensor([[0, 1, 2, 1, 0], [2, 2, 0, 1, 1]])
    out = with_labels(z, labels, 3)
    assert torch.equal(out[..., :3], z)
    assert torch.equal(out[..., 3:], torch.eye(3)[labels])


def test_acgan_losses_equal_a_manual_computation():
    method, batch, a = judged(["method=acgan"])
    c_real, c_fake = linear(method.D.classifier, a["real_features"]), linear(method.D.classifier, a["fake_features"])
    ns_d = softplus(-a["real_out"]).mean(-1) + softplus(a["fake_out"]).mean(-1)
    want_d = ns_d + cross_entropy(c_real, a["y"]) + cross_entropy(c_fake, a["y_fake"])
    want_g = softplus(-a["fake_out"]).mean(-1) + cross_entropy(c_fake, a["y_fake"])
    np.testing.assert_allclose(method.discriminator_loss(batch).detach().numpy(), want_d, rtol=1e-5)
    np.testing.assert_allclose(method.generator_loss(batch).detach().numpy(), want_g, rtol=1e-5)


def test_the_class_weight_scales_the_classification_terms():
    method, batch, a = judged(["method=acgan", "method.class_weight=0.25"])
    c_real, c_fake = linear(method.D.classifier, a["real_features"]), linear(method.D.classifier, a["fake_features"])
    ns_d = softplus(-a["real_out"]).mean(-1) + softplus(a["fake_out"]).mean(-1)
    want = ns_d + 0.25 * (cross_entropy(c_real, a["y"]) + cross_entropy(c_fake, a["y_fake"]))
    np.testing.assert_allclose(method.discriminator_loss(batch).detach().numpy(), want, rtol=1e-5)


def test_tacgan_losses_equal_a_manual_computation():
    method, batch, a = judged(["method=tacgan"])
    c_real = linear(method.D.classifier, a["real_features"])
    c_fake = linear(method.D.classifier, a["fake_features"])
    twin_fake = linear(method.D.twin, a["fake_features"])
    ns_d = softplus(-a["real_out"]).mean(-1) + softplus(a["fake_out"]).mean(-1)
    want_d = ns_d + cross_entropy(c_real, a["y"]) + cross_entropy(twin_fake, a["y_fake"])
    want_g = (softplus(-a["fake_out"]).mean(-1) + cross_entropy(c_fake, a["y_fake"])
              - cross_entropy(twin_fake, a["y_fake"]))
    np.testing.assert_allclose(method.discriminator_loss(batch).detach().numpy(), want_d, rtol=1e-5)
    np.testing.assert_allclose(method.generator_loss(batch).detach().numpy(), want_g, rtol=1e-5)


def test_the_projection_term_and_the_cgan_pd_losses_equal_a_manual_computation():
    method, batch, a = judged(["method=cgan_pd"])  # loss: lsgan (a, b, c) = (0, 1, 1)
    embedding = method.D.embedding.detach().double().numpy()  # (S, K, m)
    s = np.arange(embedding.shape[0])[:, None]
    proj_real = (embedding[s, a["y"]] * a["real_features"]).sum(-1)
    proj_fake = (embedding[s, a["y_fake"]] * a["fake_features"]).sum(-1)
    got = method.D.projection(batch.real_features, torch.as_tensor(a["y"])).detach().numpy()
    np.testing.assert_allclose(got, proj_real, rtol=1e-5, atol=1e-6)
    real, fake = a["real_out"] + proj_real, a["fake_out"] + proj_fake
    want_d = 0.5 * (((real - 1) ** 2).mean(-1) + (fake ** 2).mean(-1))
    want_g = 0.5 * ((fake - 1) ** 2).mean(-1)
    np.testing.assert_allclose(method.discriminator_loss(batch).detach().numpy(), want_d, rtol=1e-5)
    np.testing.assert_allclose(method.generator_loss(batch).detach().numpy(), want_g, rtol=1e-5)


def test_fake_labels_follow_the_configured_shares():
    method, data = build_method(RING + ["method=acgan", "method.fake_labels=data"])
    method.noise(4000)
    shares = np.bincount(method.noise_labels.flatten().numpy(), minlength=8) / method.noise_labels.numel()
    np.testing.assert_allclose(shares, data.observed_weights.numpy(), atol=0.02)
    one_hot = torch.zeros(8)
    one_hot[3] = 1
    with method.labels_from(one_hot):
        method.noise(100)
        assert (method.noise_labels == 3).all()
    method.noise(100)
    assert len(method.noise_labels.unique()) > 1  # the training labels again


@pytest.mark.parametrize("name", ["acgan", "cgan_pd"])
def test_a_briefly_trained_conditional_model_puts_class_k_on_mode_k(name):
    """Balanced 8-mode ring; after a short training, the samples generated for label k lie mostly nearest to
    mode k (nearest centre, computed here)."""
    method, data = build_method(RING + [f"method={name}"], replicas=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as trainer.threads=1: several threads on a tiny MLP are slower on a shared CPU
    try:
        for step in range(150):
            method.train_step(step)
    finally:
        torch.set_num_threads(threads)
    centres = data.centers.double()
    hits = []
    for k in range(8):
        weights = torch.zeros(8)
        weights[k] = 1
        x = method.generate(300, torch.Generator().manual_seed(k), class_weights=weights)[0].double()
        nearest = torch.cdist(x, centres).argmin(1)
        hits.append((nearest == k).float().mean().item())
    assert np.mean(hits) > 0.7, hits
    assert sum(h > 0.5 for h in hits) >= 6, hits
