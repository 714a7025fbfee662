"""LeanFusedAdam: the same parameters as torch's fused Adam, step by step, also across a state_dict reload and
with a parameter that has no gradient for a while."""
import copy

import torch

from gans.optim import LeanFusedAdam


def _train(make, steps=30, reload_at=None):
    torch.manual_seed(0)
    params = [torch.randn(5, 3, requires_grad=True), torch.randn(3, requires_grad=True)]
    opt = make(params)
    for t in range(steps):
        if t == reload_at:
            saved = copy.deepcopy(opt.state_dict())
            opt = make(params)
            opt.load_state_dict(saved)
        loss = ((params[0] @ params[1]).sin() ** 2).sum()
        for p, g in zip(params, torch.autograd.grad(loss, params)):
            p.grad = g
        opt.step()
    return [p.detach().clone() for p in params], opt


def test_lean_adam_matches_torch_fused_adam_exactly():
    reference, _ = _train(lambda p: torch.optim.Adam(p, lr=1e-2, betas=(0.5, 0.999), fused=True))
    lean, opt = _train(lambda p: LeanFusedAdam(p, lr=1e-2, betas=(0.5, 0.999)))
    resumed, _ = _train(lambda p: LeanFusedAdam(p, lr=1e-2, betas=(0.5, 0.999)), reload_at=12)
    assert opt._cache is not None  # the short path was taken
    assert all(torch.equal(a, b) for a, b in zip(reference, lean))
    assert all(torch.equal(a, b) for a, b in zip(reference, resumed))
    assert float(opt.state_dict()["state"][0]["step"]) == 30


def test_lean_adam_takes_the_standard_path_for_options_it_does_not_cover():
    reference, _ = _train(lambda p: torch.optim.Adam(p, lr=1e-2, fused=True, weight_decay=0.1))
    lean, opt = _train(lambda p: _with_weight_decay(LeanFusedAdam(p, lr=1e-2, betas=(0.9, 0.999))))
    assert opt._cache is False and all(torch.equal(a, b) for a, b in zip(reference, lean))


def _with_weight_decay(opt):
    opt.param_groups[0]["weight_decay"] = 0.1
    return opt


def test_lean_adam_keeps_the_short_path_with_a_parameter_that_has_no_gradient_yet():
    """Like IwMmdGAN's unused logit layer: the short path must skip it, and pick it up once it gets gradients."""
    def train(make, steps=30, unused_until=20):
        torch.manual_seed(0)
        params = [torch.randn(5, 3, requires_grad=True), torch.randn(3, requires_grad=True),
                  torch.randn(3, requires_grad=True)]
        opt, paths = make(params), []
        for t in range(steps):
            used = params if t >= unused_until else params[:2]
            loss = ((params[0] @ params[1]).sin() ** 2).sum() + ((params[2] ** 2).sum() if t >= unused_until else 0)
            for p in params:
                p.grad = None
            for p, g in zip(used, torch.autograd.grad(loss, used)):
                p.grad = g
            opt.step()
            paths.append(isinstance(getattr(opt, "_cache", None), list))
        return [p.detach().clone() for p in params], paths

    reference, _ = train(lambda p: torch.optim.Adam(p, lr=1e-2, betas=(0.5, 0.999), fused=True))
    lean, short_path = train(lambda p: LeanFusedAdam(p, lr=1e-2, betas=(0.5, 0.999)))
    assert all(torch.equal(a, b) for a, b in zip(reference, lean))
    assert all(short_path[1:20]) and not short_path[20] and all(short_path[22:])
    assert not torch.equal(lean[2], _initial_third_parameter())


def _initial_third_parameter():
    torch.manual_seed(0)
    torch.randn(5, 3), torch.randn(3)
    return torch.randn(3)
