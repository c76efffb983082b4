import numpy as np
import pytest

from sqmy.models import load_engine
from sqmy.models.base import Doc, hierarchical_l2
from sqmy.models.tfidf import TfidfEngine


def test_probabilities_have_one_column_per_class_and_sum_to_one(tfidf_engine):
    probs = tfidf_engine.predict_proba([Doc("小区路灯坏了"), Doc("老板拖欠工资", title="讨薪")])
    assert probs.topic_l1.shape == (2, len(tfidf_engine.topic_l1_classes_))
    assert probs.lead.shape == (2, len(tfidf_engine.lead_classes_))
    np.testing.assert_allclose(probs.topic_l1.sum(axis=1), 1, atol=1e-6)
    np.testing.assert_allclose(probs.lead.sum(axis=1), 1, atol=1e-6)
    assert ((probs.involved >= 0) & (probs.involved <= 1)).all()


def test_level2_is_consistent_with_level1(tfidf_engine):
    probs = tfidf_engine.predict_proba([Doc("工厂偷排污水，河里的鱼都死了")])
    for j, l1 in enumerate(tfidf_engine.topic_l1_classes_):
        cols = [i for i, c in enumerate(tfidf_engine.topic_l2_classes_) if c.startswith(l1 + "/")]
        assert probs.topic_l2[0, cols].sum() == pytest.approx(probs.topic_l1[0, j], abs=1e-6)


@pytest.mark.parametrize(("text", "topic"), [
    ("我们村旁边的化工厂天天排污水，河水发臭", "环境保护"),
    ("公司拖欠我们三个月工资，老板不见人", "劳动和社会保障"),
    ("出租车司机不打表还拒载", "交通运输"),
    ("孩子学校乱收费，强制买资料", "教育文体"),
])
def test_clear_items_get_the_right_topic(tfidf_engine, text, topic):
    probs = tfidf_engine.predict_proba([Doc(text)])
    assert tfidf_engine.topic_l1_classes_[probs.topic_l1[0].argmax()] == topic


def test_save_load_round_trip_keeps_predictions_and_metadata(tfidf_engine, tmp_path):
    docs = [Doc("物业乱收费"), Doc("医院服务态度差")]
    path = tfidf_engine.save(tmp_path / "copy")
    loaded = load_engine(path)
    assert loaded.metadata_ == tfidf_engine.metadata_
    assert loaded.metadata_["labels"]["topic_l1"] == tfidf_engine.topic_l1_classes_
    np.testing.assert_allclose(loaded.predict_proba(docs).topic_l1, tfidf_engine.predict_proba(docs).topic_l1)


def test_a_bare_string_is_rejected(tfidf_engine):
    with pytest.raises(TypeError, match="single item"):
        tfidf_engine.predict_proba("路灯坏了")


def test_unfitted_engine_refuses_to_predict():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        TfidfEngine().predict_proba([Doc("路灯坏了")])


def test_hierarchical_l2_keeps_mass_of_childless_level1():
    l1 = np.array([[0.7, 0.3]])
    l2 = np.array([[0.2, 0.8]])
    out = hierarchical_l2(l1, ["甲", "乙"], l2, ["甲/a", "甲/b"])
    np.testing.assert_allclose(out, [[0.14, 0.56]])


def test_fast_transform_matches_scikit_learn():
    """Serving uses ``TextFeatures.transform``; training used ``TfidfVectorizer``: the matrices must be the same."""
    from sqmy.models.features import TextFeatures

    texts = ["小区物业乱收费，物业服务差", "工厂夜里偷排污水，河里鱼都死了", "", "abc 123 路灯坏了坏了坏了",
             "物业服务差，路灯坏了"]
    features = TextFeatures(min_df=1)
    expected = features.fit_transform(texts)
    np.testing.assert_array_equal(features.transform(texts).toarray(), expected.toarray())
