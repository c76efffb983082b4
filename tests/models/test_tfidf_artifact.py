"""The TF-IDF artifact: arrays and JSON, no pickle; models saved in the earlier pickled format still load."""

import copy
import json

import joblib
import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from sqmy.core.text import chars, words
from sqmy.models import ModelRegistry, load_engine
from sqmy.models.base import Doc
from sqmy.models.features import TextFeatures
from sqmy.models.metadata import write_metadata
from sqmy.models.tfidf_artifact import LEGACY_NAME, STATE_NAME

DOCS = [Doc("物业乱收费，电梯坏了没人修", title="物业"), Doc("工厂夜里偷排污水"), Doc("老板拖欠工资三个月")]


def save_in_the_pickled_format(engine, path):
    """What ``TfidfEngine.save`` wrote before: one joblib pickle of the engine (fitted ``TfidfVectorizer`` objects,
    one dense weight matrix for every head) beside ``metadata.json``."""
    old = copy.copy(engine)
    vectorizers = []
    for analyzer, vocabulary, idf in zip((words, chars), engine.features_.vocabularies_, engine.features_.idfs_,
                                         strict=True):
        vec = TfidfVectorizer(analyzer=analyzer, sublinear_tf=True, dtype=np.float32)
        vec.vocabulary_, vec.idf_ = vocabulary, idf.astype(np.float64)
        vectorizers.append(vec)
    features = TextFeatures(min_df=engine.features_.min_df, max_features=engine.features_.max_features)
    features.vectorizers_ = vectorizers
    old.features_ = features
    old.weights_ = np.array(engine.weights_)
    path.mkdir(parents=True)
    joblib.dump(old, path / LEGACY_NAME, compress=3)
    write_metadata(path, engine.metadata_)
    return path


def assert_same_predictions(a, b):
    pa, pb = a.predict_proba(DOCS), b.predict_proba(DOCS)
    for head in ("topic_l1", "topic_l2", "lead", "involved", "topic_l3"):
        np.testing.assert_allclose(getattr(pa, head), getattr(pb, head), rtol=1e-6, atol=1e-9)


def test_the_artifact_holds_no_pickle(tfidf_engine, tmp_path):
    path = tfidf_engine.save(tmp_path / "model")
    assert not (path / LEGACY_NAME).exists()
    for npy in path.glob("*.npy"):
        np.load(npy, allow_pickle=False)  # raises if an array needed pickle
    state = json.loads((path / STATE_NAME).read_text(encoding="utf-8"))
    assert state["heads"]["topic_l1_"]["classes"] == tfidf_engine.topic_l1_classes_
    assert_same_predictions(load_engine(path), tfidf_engine)


def test_a_model_saved_as_a_pickle_loads_and_is_converted(tfidf_engine, tmp_path):
    path = save_in_the_pickled_format(tfidf_engine, tmp_path / "old")
    assert not (path / STATE_NAME).exists()
    first = load_engine(path)
    assert_same_predictions(first, tfidf_engine)
    assert first.metadata_ == tfidf_engine.metadata_
    assert (path / STATE_NAME).is_file()  # converted beside the pickle
    (path / LEGACY_NAME).unlink()  # the next load reads the new files only
    assert_same_predictions(load_engine(path), tfidf_engine)


def test_a_promoted_pickled_model_serves_through_the_registry(tfidf_engine, tmp_path):
    registry = ModelRegistry(tmp_path / "models")
    save_in_the_pickled_format(tfidf_engine, registry.root / "tfidf-20250101-000000-0000")
    registry.set_current("tfidf", "tfidf-20250101-000000-0000")
    assert_same_predictions(load_engine(registry.path(registry.current("tfidf"))), tfidf_engine)


def test_an_artifact_from_a_newer_format_is_refused(tfidf_engine, tmp_path):
    path = tfidf_engine.save(tmp_path / "model")
    state = json.loads((path / STATE_NAME).read_text(encoding="utf-8"))
    (path / STATE_NAME).write_text(json.dumps(state | {"format": 99}), encoding="utf-8")
    with pytest.raises(ValueError, match="format 99"):
        load_engine(path)

