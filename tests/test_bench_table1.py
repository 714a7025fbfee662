"""The sweep projection's matrix-product count (benchmarks/bench_table1.py) against a count by hand."""
import importlib.util
from pathlib import Path

from conftest import build_method

ROOT = Path(__file__).resolve().parents[1]


def _bench_table1():
    spec = importlib.util.spec_from_file_location("bench_table1", ROOT / "benchmarks" / "bench_table1.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_matmul_flops_of_a_vanilla_step_match_the_layer_by_layer_count():
    replicas, batch, z, hidden = 3, 64, 25, 128
    method, _ = build_method(["experiment=rls_table1", "method=vanilla", "dataset=ring", f"trainer.batch_size={batch}"],
                             replicas=replicas)
    # multiply-adds per sample of the simultaneous step; D's width-1 logit layer is a multiply-and-sum (no product)
    g_forward = z * hidden + hidden * hidden + hidden * 2
    d_forward = 2 * (2 * hidden + hidden * hidden)  # on the real and the fake half
    d_backward = 2 * (hidden * hidden) * 2 + 2 * (2 * hidden)  # D's loss: weight and input grads of layer 2, weights of 1
    g_through_d = hidden * hidden + hidden * 2  # G's loss: input grads through D, on the fake half only
    g_backward = 2 * hidden * 2 + 2 * hidden * hidden + z * hidden  # G's layers: weights and inputs, weights only at z
    macs = replicas * batch * (g_forward + d_forward + d_backward + g_through_d + g_backward)
    assert _bench_table1().matmul_gflop_per_step(method, steps=2) * 1e9 == 2 * macs
