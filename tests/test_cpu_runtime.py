"""engine.cpu_runtime: the heap setting removes the page faults of re-allocated large buffers; flush-to-zero."""
import platform
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# A step-like loop (activations of 10 replicas, a (10, 1280, 1280) kernel matrix of 62.5 MiB: above glibc's
# adaptive 32 MiB mmap ceiling) on one thread, as the sweep's workers run; prints whether the setting took and the
# minor page faults of each of 11 rounds after 30 warm-up rounds.
_FAULTS = textwrap.dedent("""
    import os, resource, sys
    sys.path.insert(0, {root!r})
    import torch
    from engine.cpu_runtime import keep_freed_memory
    took = keep_freed_memory() if os.environ["KEEP"] == "1" else None
    torch.set_num_threads(1)
    a, w, x = torch.randn(10, 64, 128), torch.randn(10, 128, 128), torch.randn(10, 1280, 16)
    def one_round():
        hidden = torch.tanh(torch.bmm(a, w))
        kernel = torch.bmm(x, x.mT).exp()
    for _ in range(30):
        one_round()
    faults = []
    for _ in range(11):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        one_round()
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    print(took, *faults)
""")
KERNEL_PAGES = 10 * 1280 * 1280 * 4 // 4096


def _faults(keep: bool) -> tuple[str, list[int]]:
    out = subprocess.run([sys.executable, "-c", _FAULTS.format(root=str(ROOT))], capture_output=True, text=True,
                         check=True, env={"KEEP": "1" if keep else "0", "PATH": ""}).stdout.split()
    return out[0], [int(n) for n in out[1:]]


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_keep_freed_memory_removes_page_faults_of_reallocated_buffers():
    """The typical (median) round: by default both kernel-sized buffers are mapped afresh and faulted in; with the
    setting the freed ones are reused. The median, because the heap still grows now and then (a small buffer
    splitting a freed kernel-sized hole): each such round faults its new pages once."""
    _, default_faults = _faults(keep=False)
    took, kept_faults = _faults(keep=True)
    assert took == "True"
    assert statistics.median(default_faults) >= KERNEL_PAGES, default_faults
    assert statistics.median(kept_faults) < KERNEL_PAGES // 100, kept_faults


def test_configure_cpu_runtime_flushes_denormals():
    import torch

    from engine.cpu_runtime import configure_cpu_runtime

    torch.set_flush_denormal(False)  # undo what importing run.py (other tests) already set
    tiny = torch.tensor([1e-39], dtype=torch.float32)  # a float32 denormal (created with flushing off)
    assert (tiny * 1.0).item() != 0.0
    configure_cpu_runtime()
    assert (tiny * 1.0).item() == 0.0
