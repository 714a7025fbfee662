"""modebench entry point: check the command line, then Hydra composes and runs each job (``engine.job``): build,
train, evaluate, record.

    python run.py                                   # the default experiment (RLS paper, RING, rls_discr)
    python run.py dataset=grid method=rls_gauss seed=3
    python run.py -m method=vanilla,rls_gauss dataset=ring,grid seed=0 trainer.replicas=5 logger=none
    python run.py -m ... hydra/launcher=joblib trainer.threads=1     # jobs in parallel (conf/hydra/launcher/)

A bad configuration stops the command before Hydra makes any run folder, with one line and exit status 1:
``modebench: configuration error: ...`` (every job of a multirun is composed and checked first: engine.preflight).
"""
from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from core.errors import ConfigError, DataError
from engine.job import run_job
from engine.preflight import plan_jobs


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run_job(cfg)


def preflight(argv: list[str]) -> None:
    """Compose and check every job of ``argv`` (engine.preflight) unless it asks Hydra for something else (--help,
    --cfg, another config); exit with one line when a job is bad."""
    from hydra._internal.utils import get_args_parser

    args, _ = get_args_parser().parse_known_args(argv)
    if (args.help or args.hydra_help or args.cfg or args.info or args.shell_completion or args.config_path
            or args.config_dir or args.experimental_rerun or args.config_name not in (None, "config")):
        return
    try:
        plan_jobs(args.overrides, multirun=args.multirun)
    except (ConfigError, DataError) as exc:
        kind = "configuration" if isinstance(exc, ConfigError) else "data"
        sys.exit(f"modebench: {kind} error: {exc}")


if __name__ == "__main__":
    preflight(sys.argv[1:])
    main()
