"""Training of an evaluator network: the loop with early stopping, the stratified validation split, augmentation
and the held-out accuracy (what :class:`evaluators.specs.ClassifierSpec` runs on first use)."""
from __future__ import annotations

import math
from typing import Any

import torch
from torch.nn import functional as F

from core.tensors import eval_mode, to_signed_unit
from datasets.transforms import convert_channels, resize_images


def train_network(spec, train: dict[str, Any], test: dict[str, Any], num_classes: int,
                  device: torch.device) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Train ``spec.build_network(num_classes)`` on ``train`` (``x`` uint8 images, ``y`` labels or 0/1 attribute
    targets) with ``spec``'s settings (:class:`evaluators.specs.ClassifierSpec`); early stopping on a stratified
    ``val_fraction`` of it restores the best weights. Returns the network (eval mode) and its info: held-out
    ``accuracy`` on ``test``, ``val_accuracy``, ``epochs_trained``, image counts (multi-label: balanced and
    per-attribute accuracies too)."""
    gen = torch.Generator().manual_seed(spec.seed)
    x, y = train["x"], train["y"]
    if spec.max_train is not None and x.shape[0] > spec.max_train:
        keep = torch.randperm(x.shape[0], generator=gen)[:spec.max_train]
        x, y = x[keep], y[keep]
    val_idx, tr_idx = stratified_split(y, spec.val_fraction, gen, spec.multilabel)
    prep = lambda t: resize_images(convert_channels(t, spec.channels), spec.input_size)
    x = prep(x)
    xt, yt = prep(test["x"]), test["y"]
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(spec.seed)
        net = spec.build_network(num_classes).to(device)
        params = list(net.parameters())
        if spec.optimizer == "adam":
            opt = torch.optim.Adam(params, lr=spec.lr, weight_decay=spec.weight_decay)
        else:
            opt = torch.optim.SGD(params, lr=spec.lr, momentum=spec.momentum, weight_decay=spec.weight_decay,
                                  nesterov=True)
        steps_per_epoch = max(1, math.ceil(tr_idx.numel() / spec.batch_size))
        sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, spec.epochs * steps_per_epoch)
                 if spec.schedule == "cosine" else None)
        x_dev, y_dev = x.to(device), y.to(device)
        best, best_state, stale, epoch = -1.0, None, 0, 0
        for epoch in range(1, spec.epochs + 1):
            net.train()
            perm = tr_idx[torch.randperm(tr_idx.numel(), generator=gen)].to(device)
            for start in range(0, perm.numel(), spec.batch_size):
                batch = perm[start:start + spec.batch_size]
                xb = augment(to_signed_unit(x_dev[batch]), spec.augment, gen)
                out, _ = net(xb)
                loss = (F.binary_cross_entropy_with_logits(out, y_dev[batch]) if spec.multilabel
                        else F.cross_entropy(out, y_dev[batch]))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if sched is not None:
                    sched.step()
            if val_idx.numel() and spec.patience > 0:
                acc = accuracy(net, x_dev[val_idx.to(device)], y_dev[val_idx.to(device)], spec.multilabel)[0]
                if acc > best:
                    best, stale = acc, 0
                    best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                else:
                    stale += 1
                    if stale >= spec.patience:
                        break
        if best_state is not None:
            net.load_state_dict(best_state)
        acc, balanced, per_attr = accuracy(net, xt.to(device), yt.to(device), spec.multilabel)
    info = {"accuracy": acc, "val_accuracy": best if best >= 0 else None, "epochs_trained": epoch,
            "train_images": int(tr_idx.numel()), "test_images": int(yt.shape[0])}
    if spec.multilabel:
        info.update(balanced_accuracy=balanced, per_attribute=per_attr)
    return net.eval(), info


def augment(xb: torch.Tensor, mode: str, gen: torch.Generator) -> torch.Tensor:
    """A training batch in [-1, 1] augmented by ``mode``: none | flip (horizontal, p = 0.5) | shift (random
    translation by up to 2 px) | crop_flip (up to 4 px and flips); padding is -1 (black)."""
    if mode == "none":
        return xb
    n = xb.shape[0]
    if mode in ("flip", "crop_flip"):
        flip = (torch.rand(n, generator=gen) < 0.5).to(xb.device)
        xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
    if mode in ("shift", "crop_flip"):
        m = 2 if mode == "shift" else 4
        pad = F.pad(xb, (m, m, m, m), value=-1.0)
        dx, dy = torch.randint(0, 2 * m + 1, (2, n), generator=gen).tolist()
        h, w = xb.shape[-2:]
        xb = torch.stack([pad[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])
    return xb


def stratified_split(y: torch.Tensor, fraction: float, gen: torch.Generator, multilabel: bool):
    """(validation indices, training indices): ``fraction`` of each class (random for multi-label targets)."""
    n = y.shape[0]
    if fraction <= 0:
        return torch.zeros(0, dtype=torch.long), torch.arange(n)
    if multilabel:
        perm = torch.randperm(n, generator=gen)
        k = int(round(n * fraction))
        return perm[:k].sort().values, perm[k:].sort().values
    val = []
    for c in torch.unique(y):
        members = (y == c).nonzero().squeeze(1)
        members = members[torch.randperm(members.numel(), generator=gen)]
        val.append(members[:int(round(members.numel() * fraction))])
    val_idx = torch.cat(val).sort().values
    mask = torch.ones(n, dtype=torch.bool)
    mask[val_idx] = False
    return val_idx, mask.nonzero().squeeze(1)


@torch.no_grad()
def accuracy(net, x: torch.Tensor, y: torch.Tensor, multilabel: bool, batch: int = 1024):
    """(accuracy, mean balanced accuracy or None, per-attribute accuracies or None) of ``net`` on uint8 ``x``."""
    preds = []
    with eval_mode(net):
        for s in range(0, x.shape[0], batch):
            out, _ = net(to_signed_unit(x[s:s + batch]))
            preds.append((out > 0).float() if multilabel else out.argmax(1))
    if not preds:
        return float("nan"), None, None
    pred = torch.cat(preds)
    if not multilabel:
        return float((pred == y).float().mean()), None, None
    correct = (pred == y).float()
    per_attr = correct.mean(0)
    tpr = ((pred == 1) & (y == 1)).sum(0) / (y == 1).sum(0).clamp_min(1)
    tnr = ((pred == 0) & (y == 0)).sum(0) / (y == 0).sum(0).clamp_min(1)
    balanced = ((tpr + tnr) / 2).mean()
    return float(per_attr.mean()), float(balanced), [round(float(a), 4) for a in per_attr]
