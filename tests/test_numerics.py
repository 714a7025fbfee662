"""floored_exp: torch.exp where the result is a normal number, the floor below, for float32 and float64."""
import math

import pytest
import torch

from core.numerics import floored_exp


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_floored_exp_is_exp_above_the_floor_and_the_floor_below(dtype):
    floor = math.log(torch.finfo(dtype).tiny) + 1.0
    above = torch.linspace(floor + 0.01, 0.0, 1001, dtype=dtype)
    assert torch.equal(floored_exp(above), torch.exp(above))
    below = torch.tensor([floor - 0.5, floor - 50.0, -1e4, -math.inf], dtype=dtype, requires_grad=True)
    values = floored_exp(below)
    assert torch.all(values == torch.exp(torch.tensor(floor, dtype=dtype)))
    assert values.max().item() < 1e-37 and values.min().item() > 0
    values.sum().backward()
    assert torch.all(below.grad == 0)
