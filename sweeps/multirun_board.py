"""The end of a ``python run.py -m``: what became of each job (engine.multirun.MultirunSummary: the summary line,
exit status 1 when a job failed), then the leaderboard of that multirun, the Markdown table that
``python -m sweeps.leaderboard`` prints (its default metrics), read from the multirun's own run folders only: older
runs under the same sweep folder stay out.

Registered in conf/config.yaml as ``hydra.callbacks.summary``; ``hydra.callbacks.summary.board=false`` leaves the
table out (``sweeps.run`` sets it when it prints its own table at the end of a sweep).
"""
from __future__ import annotations

from typing import Sequence

from omegaconf import DictConfig

from engine.multirun import JobOutcome, MultirunSummary
from engine.records import results_path
from sweeps import leaderboard


class MultirunBoard(MultirunSummary):
    """:class:`engine.multirun.MultirunSummary`, then (with ``board``) the leaderboard of the multirun's jobs."""

    def __init__(self, board: bool = True) -> None:
        super().__init__()
        self.board = board

    def after_summary(self, config: DictConfig, outcomes: Sequence[JobOutcome]) -> None:
        if not self.board:
            return
        files = [str(path) for path in (results_path(o.job.run_dir) for o in outcomes) if path.is_file()]
        if not files:
            print("[modebench] no results.json in this multirun's run folders: no leaderboard", flush=True)
            return
        print(f"[modebench] leaderboard of this multirun ({len(files)} run folder(s); `python -m sweeps.leaderboard "
              f"{config.hydra.sweep.dir}` tabulates every run under it):\n", flush=True)
        leaderboard.main(files)
