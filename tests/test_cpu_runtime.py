"""core.cpu_runtime: the heap setting removes the page faults of re-allocated large buffers; flush-to-zero."""
import functools
import json
import platform
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# A step-like loop (activations of 10 replicas, a (10, 1280, 1280) kernel matrix of 62.5 MiB: above glibc's
# adaptive 32 MiB mmap ceiling) on one thread, as the sweep's workers run. Prints as JSON: whether the setting took,
# glibc's own account (mallinfo2) of the bytes a kernel matrix maps outside the heap, and the minor page faults of
# each of 11 rounds after 30 warm-up rounds.
_CHILD = textwrap.dedent("""
    import ctypes, json, os, resource, sys
    sys.path.insert(0, {root!r})
    import torch
    from core.cpu_runtime import keep_freed_memory
    took = keep_freed_memory() if os.environ["KEEP"] == "1" else None
    torch.set_num_threads(1)

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                          "fsmblks", "uordblks", "fordblks", "keepcost")]
    mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
    mallinfo2.restype = MallInfo2

    a, w, x = torch.randn(10, 64, 128), torch.randn(10, 128, 128), torch.randn(10, 1280, 16)
    empty = mallinfo2()
    kernel = torch.bmm(x, x.mT)
    alive = mallinfo2()
    del kernel

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
    print(json.dumps(dict(took=took, mapped=alive.hblkhd - empty.hblkhd, faults=faults)))
""")
KERNEL_BYTES = 10 * 1280 * 1280 * 4
KERNEL_PAGES = KERNEL_BYTES // 4096
needs_glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt and mallinfo2")


@functools.cache
def _child(keep: bool) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD.format(root=str(ROOT))], capture_output=True, text=True,
                         check=True, env={"KEEP": "1" if keep else "0", "PATH": ""}).stdout
    return json.loads(out.strip().splitlines()[-1])


@needs_glibc
def test_keep_freed_memory_serves_large_buffers_from_the_heap():
    default, kept = _child(keep=False), _child(keep=True)
    assert default["took"] is None and kept["took"] is True
    assert default["mapped"] >= KERNEL_BYTES  # by default the kernel matrix is a mapping of its own ...
    assert kept["mapped"] < KERNEL_BYTES  # ... with the setting it lives in the heap


@needs_glibc
def test_keep_freed_memory_removes_page_faults_of_reallocated_buffers():
    """The typical (median) round: by default both kernel-sized buffers are mapped afresh and faulted in, with the
    setting freed heap memory is reused (0 faults per round on the machines measured). The median, and a margin,
    because the heap can still grow now and then (a small buffer splitting a freed kernel-sized hole) and each such
    growth faults its new pages once."""
    default_faults, kept_faults = _child(keep=False)["faults"], _child(keep=True)["faults"]
    assert statistics.median(default_faults) >= KERNEL_PAGES, default_faults
    assert statistics.median(kept_faults) <= statistics.median(default_faults) / 4, kept_faults


def test_configure_cpu_runtime_flushes_denormals():
    import torch

    from core.cpu_runtime import configure_cpu_runtime

    torch.set_flush_denormal(False)  # undo what importing run.py (other tests) already set
    tiny = torch.tensor([1e-39], dtype=torch.float32)  # a float32 denormal (created with flushing off)
    assert (tiny * 1.0).item() != 0.0
    configure_cpu_runtime()
    assert (tiny * 1.0).item() == 0.0
