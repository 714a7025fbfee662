"""W&B as its users expect, checked on the offline files wandb itself writes: one run per seed, grouped by the
variant, the seed in the config, the method as job type, D/G losses every ``trainer.log_every`` steps, the final
metrics, figures and table, a failed run marked failed, a quiet console; and ``sweeps.wandb_log`` re-logging
finished runs trained with ``logger=none`` once."""
import json
import math
from pathlib import Path

import pytest
from wandb.proto import wandb_internal_pb2

from conftest import QUICK, compose_run
from engine.history import read_history, scalars
from engine.loggers import LOGGED_FILE, NullLogger
from engine.run import execute
from gans.method import GANMethod
from sweeps import wandb_log

BLOCK = 32 * 1024  # the .wandb file: a 7-byte header, then LevelDB-log records (crc32, length, type) in 32 KiB blocks
STEPS = ["method=vanilla", "trainer.steps=60", "trainer.log_every=20", "trainer.replicas=2", "trainer.threads=1",
         "plots.enabled=true"]


def wandb_records(path: Path) -> list:
    """Every protobuf Record of one offline run's ``.wandb`` file (wandb 0.31 ships no reader of its own)."""
    data, pos, chunk, records = path.read_bytes(), 7, b"", []
    while pos + 7 <= len(data):
        if BLOCK - pos % BLOCK < 7:  # a block's tail too short for a record header is padding
            pos += BLOCK - pos % BLOCK
            continue
        length, kind = int.from_bytes(data[pos + 4:pos + 6], "little"), data[pos + 6]
        chunk += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last piece of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunk)
            records.append(record)
            chunk = b""
        elif kind == 0:
            pos += BLOCK - pos % BLOCK
    return records


def offline_runs(run_dir: Path) -> list[dict]:
    """Per offline run under ``run_dir``: its name, group, job type, config, history rows by step, summary, exit."""
    runs = []
    for path in sorted(run_dir.glob("wandb/offline-run-*/*.wandb")):
        run = {"history": {}, "summary": {}, "exit": None, "config": {}}
        for record in wandb_records(path):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                run.update(name=record.run.display_name, group=record.run.run_group, job_type=record.run.job_type)
                run["config"].update({i.key: i.value_json for i in record.run.config.update})
            elif kind == "history":
                items = {"/".join(i.nested_key) or i.key: i.value_json for i in record.history.item}
                run["history"].setdefault(int(items.pop("_step")), {}).update(items)
            elif kind == "summary":
                run["summary"].update({i.key: i.value_json for i in record.summary.update})
            elif kind == "exit":
                run["exit"] = record.exit.exit_code
        runs.append(run)
    return runs


def _execute(run_dir, overrides):
    cfg, choices = compose_run(QUICK + STEPS + overrides)
    return execute(cfg, choices, run_dir)


def test_one_offline_run_per_seed_grouped_by_variant_with_losses_metrics_and_figures(tmp_path, monkeypatch, capfd):
    monkeypatch.delenv("WANDB_SILENT", raising=False)  # the logger itself must keep the console quiet
    records = _execute(tmp_path, ["logger=wandb", "seed=3"])
    runs = sorted(offline_runs(tmp_path), key=lambda run: run["name"])
    assert [run["name"] for run in runs] == ["ring/vanilla/seed3", "ring/vanilla/seed4"]
    assert {run["group"] for run in runs} == {"default/ring/vanilla"} and {r["job_type"] for r in runs} == {"vanilla"}
    assert [run["config"]["seed"] for run in runs] == ["3", "4"] and runs[1]["config"]["replica"] == "1"
    history = read_history(tmp_path)
    for run, record in zip(runs, records):
        assert sorted(run["history"]) == [20, 40, 60] and run["exit"] == 0
        for row in (r for r in history if r["seed"] == record["seed"]):  # the same losses as history.csv
            assert math.isclose(float(run["history"][row["step"]]["loss_d"]), row["loss_d"], rel_tol=1e-6)
        final = {key.split("/")[0] for key in run["history"][60]}  # an image or table is a nested key: samples/path
        assert float(run["history"][60]["nb_modes"]) == record["metrics"]["nb_modes"] and "results" in final
        assert ("samples" in final) == (record["seed"] == 3)  # plots.replicas=1: figures of the first seed only
        assert float(run["summary"]["jsd"]) == pytest.approx(record["metrics"]["jsd"])
    assert "wandb" not in capfd.readouterr().err.lower()  # no banner, no deprecation warning, no history footer
    assert set(json.loads((tmp_path / LOGGED_FILE).read_text())[records[0]["config_hash"]]) == {"3", "4"}


def test_a_run_that_raises_finishes_its_runs_as_failed(tmp_path, monkeypatch):
    def fail(self, step):
        if step == 30:
            raise RuntimeError("injected failure")
    monkeypatch.setattr(GANMethod, "on_step_end", fail)
    with pytest.raises(RuntimeError):
        _execute(tmp_path, ["logger=wandb"])
    runs = offline_runs(tmp_path)
    assert len(runs) == 2 and all(run["exit"] not in (None, 0) for run in runs)
    assert not (tmp_path / LOGGED_FILE).exists()  # only finished runs count as logged


def test_wandb_log_sends_a_finished_logger_none_run_once(tmp_path, capsys):
    records = _execute(tmp_path, [])
    assert not list(tmp_path.glob("wandb"))
    assert wandb_log.main([str(tmp_path), "--mode", "offline"]) == 0
    runs = sorted(offline_runs(tmp_path), key=lambda run: run["name"])
    assert [run["name"] for run in runs] == ["ring/vanilla/seed0", "ring/vanilla/seed1"]
    assert sorted(runs[0]["history"]) == [20, 40, 60] and "loss_g" in runs[0]["history"][20]
    assert float(runs[1]["history"][60]["nb_modes"]) == records[1]["metrics"]["nb_modes"]
    assert any(key.startswith("samples/") for key in runs[0]["history"][60]) and runs[0]["exit"] == 0
    capsys.readouterr()
    assert wandb_log.main([str(tmp_path)]) == 0
    assert capsys.readouterr().out.count("already logged") == 2 and len(offline_runs(tmp_path)) == 2
    assert wandb_log.main([str(tmp_path), "--again"]) == 0 and len(offline_runs(tmp_path)) == 4


def test_wandb_log_refuses_a_folder_without_results(tmp_path, capsys):
    assert wandb_log.main([str(tmp_path)]) == 1
    assert "no results.json" in capsys.readouterr().err
    assert wandb_log.main([str(tmp_path / "typo")]) == 1


def test_figures_of_map_files_to_the_keys_a_live_run_uses(tmp_path):
    plots = tmp_path / "plots"
    plots.mkdir()
    for name in ("samples_seed0", "samples_seed1", "curves_seed0", "latent_priors"):
        (plots / f"{name}.png").write_bytes(b"")
    assert set(wandb_log.figures_of(tmp_path, 0)) == {"samples/seed0", "curves/seed0", "latent_priors"}


def test_scalars_keep_numbers_only():
    assert scalars({"nb_modes": 8, "ok": True, "counts": [1, 2], "jsd": 0.5}) == {"nb_modes": 8.0, "jsd": 0.5}
    NullLogger().finish()  # the null logger accepts the same calls
