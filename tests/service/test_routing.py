from models.base import Doc
from service.routing import Router, RoutingPolicy


def _route(engine, policy, text="小区物业乱收费，物业服务差"):
    return Router({"tfidf": engine}, policy).classify([Doc(text)])[0]


def test_result_has_the_contract_fields(tfidf_engine):
    result = _route(tfidf_engine, RoutingPolicy())
    assert result["topic"] == result["topic_path"][0]
    assert result["engine"] == "tfidf" and result["model_version"].startswith("tfidf-")
    leads = [d for d in result["departments"] if d["role"] == "lead"]
    assert len(leads) == 1 and leads[0]["name"] == result["department_candidates"][0]["name"]
    assert result["topic_candidates"][0]["topic_path"] == result["topic_path"]
    confidences = [c["confidence"] for c in result["department_candidates"]]
    assert confidences == sorted(confidences, reverse=True)


def test_review_flag_follows_the_threshold(tfidf_engine):
    assert _route(tfidf_engine, RoutingPolicy(review_threshold=1.0))["needs_review"]
    relaxed = _route(tfidf_engine, RoutingPolicy(review_threshold=0.0, dept_review_threshold=0.0))
    assert not relaxed["needs_review"] and relaxed["review_reasons"] == []


def test_assists_respect_threshold_and_maximum(tfidf_engine):
    none = _route(tfidf_engine, RoutingPolicy(assist_threshold=1.01))
    assert [d["role"] for d in none["departments"]] == ["lead"]
    many = _route(tfidf_engine, RoutingPolicy(assist_threshold=0.0, max_assists=2))
    assert [d["role"] for d in many["departments"]] == ["lead", "assist", "assist"]
