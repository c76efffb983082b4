"""One chunk of an archive: a failing batch is retried row by row, and the failure is logged, not swallowed."""

import logging

from sqmy.app.archive.readers import Item
from sqmy.app.archive.rows import Columns, Layout, process_chunk
from sqmy.app.policy import RoutingPolicy
from sqmy.app.routing import Router


def test_a_failing_chunk_is_logged_and_only_the_bad_row_is_lost(caplog, tfidf_engine):
    rows = [{"id": "a", "text": "路灯坏了"}, {"id": "b", "text": "炸弹"}, {"id": "c", "text": "拖欠工资"}]
    layout = Layout.build(rows[0], Columns(), kind="full", encoding="jsonl")
    router = Router({"tfidf": tfidf_engine}, RoutingPolicy())

    def classify(docs):
        if any(d.text == "炸弹" for d in docs):
            raise RuntimeError("engine exploded")
        return [s.to_dict() for s in router.classify(docs)]

    with caplog.at_level(logging.ERROR, logger="sqmy.app.archive.rows"):
        result = process_chunk([Item(n + 1, r) for n, r in enumerate(rows)], layout, classify, lambda name: name)
    assert result.classified == 2 and result.failed == 1
    assert b"engine exploded" in result.errors
    assert any("retrying row by row" in r.message and r.exc_info for r in caplog.records)
