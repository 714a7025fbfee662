"""core.cpu_runtime: the heap setting removes the page faults of re-allocated large buffers; flush-to-zero, also in
torch's worker threads when run.py's main sets it."""
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

    torch.set_flush_denormal(False)  # undo what another test of this process may have set
    tiny = torch.tensor([1e-39], dtype=torch.float32)  # a float32 denormal (created with flushing off)
    assert (tiny * 1.0).item() != 0.0
    configure_cpu_runtime()
    assert (tiny * 1.0).item() == 0.0


# run.py's process up to main's first line, then a parallel product of float32 denormals (made by numpy, so that no
# torch operation runs before the settings). Prints how many products are not flushed to zero, counted on their bits.
_FTZ_CHILD = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    import numpy as np
    import torch
    torch.set_num_threads(2)
    if {pool_first}:
        (torch.ones(1 << 22) * 2.0).sum()  # a parallel operation starts torch's intra-op pool
    import run  # everything run.py imports before main() runs
    from core.cpu_runtime import configure_cpu_runtime
    tiny = torch.from_numpy(np.full(1 << 22, 1e-39, dtype=np.float32))
    configure_cpu_runtime()  # main's first statement
    print(np.count_nonzero((tiny * 1.0).numpy().view(np.int32)))  # 4M products: chunks on the workers too
""")
needs_x86 = pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="torch's flush-to-zero on x86")


def _unflushed_products(pool_first: bool) -> int:
    out = subprocess.run([sys.executable, "-c", _FTZ_CHILD.format(root=str(ROOT), pool_first=pool_first)],
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return int(out.strip().splitlines()[-1])


@needs_x86
def test_run_main_sets_flush_to_zero_before_torch_starts_its_worker_threads():
    """Importing run.py (torch, hydra, the engine, every metric and method) starts no torch worker thread, so
    main's configure_cpu_runtime() reaches the whole pool; a pool started earlier keeps denormals in its workers
    (flush-to-zero is per thread, and workers copy it from the main thread when they are created)."""
    assert _unflushed_products(pool_first=False) == 0
    assert _unflushed_products(pool_first=True) > 0
