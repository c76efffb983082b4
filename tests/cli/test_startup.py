"""What the TF-IDF path imports: ``sqmy classify --engine tfidf`` answers without torch (nor scikit-learn), even
when a BERT model is promoted beside the TF-IDF one."""

import json
import subprocess
import sys

from sqmy.models import ModelRegistry
from sqmy.models.metadata import write_metadata
from tests.conftest import sqmy_env

HEAVY = ("torch", "transformers", "onnxruntime", "sklearn", "joblib", "pandas")


def promote_a_bert_model(home):
    """A BERT version in the registry: loading it would import torch (and then fail, the weights are absent)."""
    registry = ModelRegistry(home / "models")
    path = home / "models" / "bert-20260101-000000-0000"
    path.mkdir(parents=True)
    write_metadata(path, {"engine": "bert", "version": path.name})
    registry.set_current("bert", path.name)


def imported_top_level(stderr: str) -> set[str]:
    """Top-level packages named in ``-X importtime`` lines."""
    return {line.split("|")[-1].strip().split(".")[0] for line in stderr.splitlines()
            if line.startswith("import time:")}


def classify_with_importtime(home, *args):
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "sqmy", "classify", *args,
                           "工厂排放废气，臭味刺鼻"], env=sqmy_env(home), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout), imported_top_level(done.stderr)


def test_classify_with_tfidf_imports_no_torch_nor_scikit_learn(home):
    promote_a_bert_model(home)
    result, modules = classify_with_importtime(home, "--engine", "tfidf")
    assert result["engine"] == "tfidf" and result["topic"] == "环境保护"
    assert "numpy" in modules  # the probe sees imports at all
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_auto_without_bert_imports_no_torch(home):
    result, modules = classify_with_importtime(home)
    assert result["engine"] == "tfidf"
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))
