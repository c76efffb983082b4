"""The public JSON shape of a suggestion."""

import dataclasses
import json

from sqmy.app.results import Department, DepartmentCandidate, Suggestion, TopicCandidate
from sqmy.core.facts import Fact


def test_to_dict_carries_every_field_in_order_as_json_lists():
    suggestion = Suggestion(
        "城乡建设", ("城乡建设", "市政", "路灯"), 0.9, 0.8,
        (TopicCandidate("城乡建设", ("城乡建设", "市政"), 0.8),), (Department("市城管局", "lead", 0.7),),
        (DepartmentCandidate("市城管局", 0.7, 0.9),), "tfidf", "tfidf-1", True, ("分类置信度低",))
    out = suggestion.to_dict()
    assert list(out) == [f.name for f in dataclasses.fields(Suggestion) if f.name != "facts"]  # none extracted
    out = suggestion.with_facts((Fact("place", "青石镇", 3, 6, "town"),)).to_dict()
    assert list(out) == [f.name for f in dataclasses.fields(Suggestion)]
    assert out["facts"] == [{"kind": "place", "text": "青石镇", "start": 3, "end": 6, "level": "town"}]
    assert json.loads(json.dumps(out)) == out  # tuples became lists
    assert out["topic_candidates"] == [{"topic": "城乡建设", "topic_path": ["城乡建设", "市政"], "confidence": 0.8}]
    assert out["departments"] == [{"name": "市城管局", "role": "lead", "confidence": 0.7}]
    assert out["department_candidates"] == [{"name": "市城管局", "confidence": 0.7, "involvement": 0.9}]
