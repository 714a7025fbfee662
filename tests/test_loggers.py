
from engine.loggers import NullLogger, WandbLogger, flatten_replica_metrics


def test_flatten_replica_metrics_keeps_scalars_and_means():
    flat = flatten_replica_metrics([{"nb_modes": 8, "counts": [1, 2]}, {"nb_modes": 6, "counts": [0, 1]}], [3, 4])
    assert flat == {"seed3/nb_modes": 8.0, "seed4/nb_modes": 6.0, "mean/nb_modes": 7.0}


def test_wandb_logger_writes_an_offline_run(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    logger = WandbLogger(project="modebench-test")
    assert logger.mode == "offline"
    logger.start(tmp_path, name="t", group="g", config={"a": 1})
    logger.log({"mean/nb_modes": 3.0}, step=1)
    logger.finish(summary={"mean/nb_modes": 3.0})
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and any(runs[0].glob("*.wandb"))
    NullLogger().finish()  # the null logger accepts the same calls
