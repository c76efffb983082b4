"""Routing: probabilities → a typed suggestion, and the one decision of who answers ``auto``."""

import pytest

from sqmy.app.policy import RoutingPolicy
from sqmy.app.routing import EngineUnavailableError, Router
from sqmy.models.base import Doc
from sqmy.service.schemas import Prediction


def _route(engine, policy, text="小区物业乱收费，物业服务差"):
    return Router({"tfidf": engine}, policy).classify([Doc(text)])[0]


def test_result_has_the_contract_fields(tfidf_engine):
    result = _route(tfidf_engine, RoutingPolicy())
    assert result.topic == result.topic_path[0]
    assert result.engine == "tfidf" and result.model_version.startswith("tfidf-")
    assert result.lead is not None and result.lead.name == result.department_candidates[0].name
    assert [d.role for d in result.departments].count("lead") == 1
    assert result.topic_candidates[0].topic_path == result.topic_path
    confidences = [c.confidence for c in result.department_candidates]
    assert confidences == sorted(confidences, reverse=True)


def test_suggestion_validates_against_the_http_response_model(tfidf_engine):
    """What the router returns is exactly what the OpenAPI schema of /v1/classify promises."""
    payload = _route(tfidf_engine, RoutingPolicy()).to_dict() | {"id": None, "classification_id": "c-1"}
    model = Prediction.model_validate(payload)
    assert model.model_dump() == payload


def test_review_flag_follows_the_threshold(tfidf_engine):
    assert _route(tfidf_engine, RoutingPolicy(review_threshold=1.0)).needs_review
    relaxed = _route(tfidf_engine, RoutingPolicy(review_threshold=0.0, dept_review_threshold=0.0))
    assert not relaxed.needs_review and relaxed.review_reasons == ()


def test_review_reasons_name_the_level_and_quote_the_shown_percentages(tfidf_engine):
    """Each reason names what it is about and quotes the same whole percent the page shows beside that bar."""
    result = _route(tfidf_engine, RoutingPolicy(review_threshold=1.0, dept_review_threshold=1.0))
    topic_reason, lead_reason = result.review_reasons
    assert topic_reason == f"一级分类“{result.topic}”的可能性 {result.topic_confidence:.0%} 低于复核阈值 100%"
    lead = result.departments[0]
    assert lead_reason == f"主办单位“{lead.name}”的主办可能性 {lead.confidence:.0%} 低于复核阈值 100%"


def test_a_value_just_under_the_threshold_does_not_read_as_equal_to_it():
    from sqmy.app.routing import _below

    assert _below(0.3551, 0.5) == "36% 低于复核阈值 50%"
    assert _below(0.4996, 0.5) == "49.9% 低于复核阈值 50%"


def test_assists_respect_threshold_and_maximum(tfidf_engine):
    none = _route(tfidf_engine, RoutingPolicy(assist_threshold=1.01))
    assert [d.role for d in none.departments] == ["lead"]
    many = _route(tfidf_engine, RoutingPolicy(assist_threshold=0.0, max_assists=2))
    assert [d.role for d in many.departments] == ["lead", "assist", "assist"]
    assert len(many.assists) == 2


def test_plan_decides_auto_in_one_place(tfidf_engine):
    class Named:
        def __init__(self, name):
            self.name = name

    bert, ensemble = Named("bert"), Named("ensemble")
    assert Router({"tfidf": tfidf_engine}, RoutingPolicy()).plan("auto") == (tfidf_engine, None)
    assert Router({"tfidf": tfidf_engine, "bert": bert}, RoutingPolicy()).plan("auto") == (bert, tfidf_engine)
    both = Router({"tfidf": tfidf_engine, "bert": bert, "ensemble": ensemble}, RoutingPolicy())
    assert both.plan("auto") == (ensemble, tfidf_engine)
    assert both.plan("bert") == (bert, None)  # a named engine never falls back
    with pytest.raises(EngineUnavailableError, match="未加载"):
        Router({"tfidf": tfidf_engine}, RoutingPolicy()).plan("bert")


def test_level3_is_returned_when_the_engine_knows_it(tfidf_engine):
    """The tiny corpus labels some items at level 3: the path goes down to the leaf under the chosen level 2."""
    assert "城乡建设/住房保障与房地产/物业服务" in tfidf_engine.topic_l3_classes_
    result = _route(tfidf_engine, RoutingPolicy(), "小区物业费年年涨，物业公司乱收费，物业服务差")
    assert result.topic_path == ("城乡建设", "住房保障与房地产", "物业服务")
    assert result.topic_candidates[0].topic_path == result.topic_path
    assert 0 < result.topic_path_confidence <= result.topic_candidates[0].confidence


def test_a_model_saved_before_level3_still_routes_at_level2(tfidf_engine):
    import copy

    old = copy.copy(tfidf_engine)
    del old.topic_l3_  # what a model trained before level 3 looks like once loaded
    old.topic_l3_classes_ = []
    old._stack_heads = None
    result = Router({"tfidf": old}, RoutingPolicy()).classify([Doc("小区物业乱收费")])[0]
    assert len(result.topic_path) == 2
