"""An interrupted BERT training leaves no model in the registry, and the next run resumes where it stopped."""

from __future__ import annotations

import pytest

from sqmy.core.progress import Progress
from sqmy.models import ModelRegistry
from sqmy.training.data import corpus_files, load_items
from sqmy.training.train import checkpoint_dir, train_and_register
from tests.utils.tiny_bert import write_tiny_bert


class Killed(Exception):
    pass


class KillAt(Progress):
    """A progress sink that stops the run (as a kill would) when training reaches ``stage``."""

    def __init__(self, stage: str) -> None:
        super().__init__()
        self.kill_stage = stage
        self.stages: list[str] = []

    def update(self, done: int, errors: int = 0, *, stage: str | None = None, **kwargs) -> None:
        self.stages.append(stage or "")
        if stage == self.kill_stage:
            raise Killed(stage)
        super().update(done, errors, stage=stage, **kwargs)


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    return write_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


def _train(items, registry, tiny_base, progress, logs, epochs=0):
    params = {"base": str(tiny_base), "epochs": epochs, "batch_size": 8, "prefix": ""}
    return train_and_register("bert", items, registry, params=params, progress=progress, log=logs.append,
                              eval_fraction=0.2)


def test_a_killed_probe_run_leaves_no_model_and_the_rerun_reuses_the_encoded_features(tmp_path, tiny_base,
                                                                                      tiny_corpus_dir, labels):
    items = load_items(corpus_files(tiny_corpus_dir), labels).items
    registry = ModelRegistry(tmp_path / "models")
    logs: list[str] = []
    with pytest.raises(Killed):
        _train(items, registry, tiny_base, KillAt("训练线性探针"), logs)
    assert registry.versions("bert") == [] and registry.current("bert") is None
    assert list(checkpoint_dir(registry, "bert").glob("features-*.npy"))

    progress, logs = Progress(), []
    meta = _train(items, registry, tiny_base, progress, logs)
    assert any("reused from the checkpoint" in line for line in logs)
    assert [v["version"] for v in registry.versions("bert")] == [meta["version"]]
    assert progress.state["percent"] == 100.0 and progress.state["stage"] == "已保存"
    assert not checkpoint_dir(registry, "bert").exists()  # a finished run cleans up after itself


def test_fine_tuning_resumes_after_the_last_finished_epoch(tmp_path, tiny_base, tiny_corpus_dir, labels):
    items = load_items(corpus_files(tiny_corpus_dir), labels).items
    registry = ModelRegistry(tmp_path / "models")
    with pytest.raises(Killed):
        _train(items, registry, tiny_base, KillAt("微调第 2/2 轮"), [], epochs=2)
    assert registry.versions("bert") == []

    progress, logs = KillAt("never"), []
    meta = _train(items, registry, tiny_base, progress, logs, epochs=2)
    assert any("resuming after epoch 1" in line for line in logs)
    assert "微调第 1/2 轮" not in progress.stages and "微调第 2/2 轮" in progress.stages
    assert [h["epoch"] for h in meta["history"]] == [0, 1, 2]  # the probe and both epochs, across the two runs
