"""Build, run, train, evaluate and record (everything above the component packages)."""
import os

from omegaconf import OmegaConf


def cpu_jobs(threads=None) -> int:
    """OmegaConf resolver ``modebench_cpu_jobs``: parallel jobs that fill this machine's CPU cores when every job
    uses ``threads`` torch threads (1 when null); conf/hydra/launcher/parallel.yaml's ``n_jobs``."""
    return max(1, (os.cpu_count() or 1) // max(1, int(threads or 1)))


if not OmegaConf.has_resolver("modebench_cpu_jobs"):
    OmegaConf.register_new_resolver("modebench_cpu_jobs", cpu_jobs)
