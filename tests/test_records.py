from engine.records import config_hash, is_finished, training_hash, variant_hash

BASE = {"seed": 0, "dataset": {"n": 10}, "trainer": {"steps": 5, "replicas": 1, "device": "cpu"},
        "metrics": {"n_samples": 100}}


def _with(**changes):
    import copy

    cfg = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        node = cfg
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return cfg


def test_hashes_ignore_what_does_not_change_results():
    h = config_hash(BASE)
    assert config_hash(_with(trainer__device="cuda")) == h
    assert config_hash(_with(logger={"mode": "online"})) == h
    assert config_hash(_with(data__root="/somewhere/else")) == h  # a machine path, and its empty parent
    assert config_hash(_with(trainer__steps=6)) != h
    paths = _with(metrics__inception_weights="/w.pth", metrics__fid={"inception_weights": "/w.pth", "k": 3})
    assert config_hash(paths) == config_hash(_with(metrics__fid={"k": 3}))


def test_variant_ignores_seeds_and_training_hash_ignores_metrics():
    assert variant_hash(_with(seed=3, trainer__replicas=10)) == variant_hash(BASE)
    assert config_hash(_with(seed=3)) != config_hash(BASE)
    assert training_hash(_with(metrics__n_samples=5)) == training_hash(BASE)
    assert config_hash(_with(metrics__n_samples=5)) != config_hash(BASE)


def test_is_finished_needs_every_record_final_with_this_hash():
    rec = {"config_hash": "h", "status": "completed"}
    assert is_finished({"records": [rec, {**rec, "status": "diverged"}]}, "h")
    assert not is_finished({"records": [rec, {**rec, "status": "failed"}]}, "h")
    assert not is_finished({"records": [rec]}, "other")
    assert not is_finished(None, "h") and not is_finished({"records": []}, "h")
