"""The similarity index fed from the classification log (``LogFeed``, what the indexer process runs): rows are
stored as the log stores them, a feeder that starts again goes on from the persisted watermark, and feeding a row
twice does not undo a staff verdict's labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqmy.app.similar.feed import LogFeed
from sqmy.app.similar.store import ItemStore
from sqmy.app.similar.vectors import Projection
from sqmy.app.storage import ClassificationLog, make_engine, new_classification_id, row_builders
from tests.utils.similar import with_projection

TEXTS = ["青溪市白沙镇幸福村的垃圾好几天没人清运，臭气熏天，联系电话13812345678",
         "学校门口早晚高峰堵车严重，建议增设红绿灯", "某某路上的餐馆油烟直排，楼上居民没法开窗",
         "小区3栋门口的路灯坏了一个多月，晚上出门不安全", "幸福村垃圾站满了没人清理，苍蝇很多"]


def result(n: int) -> dict[str, Any]:
    return {"classification_id": new_classification_id(), "topic": "城乡建设", "topic_path": ["城乡建设", "环卫"],
            "topic_confidence": 0.9, "departments": [{"name": f"单位{n}", "role": "lead"}], "engine": "tfidf",
            "model_version": "tfidf-test", "needs_review": False, "facts": []}


def classify(log: ClassificationLog, texts: list[str]) -> list[str]:
    """Rows as /v1/classify logs them (phone and ID numbers masked); their classification ids."""
    items = [{"id": None, "title": "", "text": t} for t in texts]
    results = [result(n) for n in range(len(texts))]
    log.add(row_builders(items, results, "api", raw=False))
    log.barrier().result(timeout=30)
    return [r["classification_id"] for r in results]


def fed_home(tmp_path: Path) -> tuple[Path, Any, ClassificationLog, Projection, ItemStore]:
    """A home with a fitted projection: its database, classification log, projection and item store."""
    home = with_projection(tmp_path / "home")
    db = make_engine(f"sqlite:///{home / 'sqmy.db'}")
    projection = Projection.load(home / "similar" / "projection")
    assert projection is not None
    return home, db, ClassificationLog(db), projection, ItemStore(home / "similar" / "items.db")


def test_the_feed_stores_logged_rows_once_and_goes_on_where_it_stopped(tmp_path: Path) -> None:
    home, db, log, projection, store = fed_home(tmp_path)
    try:
        first = classify(log, TEXTS[:3])
        feed = LogFeed(db, home / "similar", projection, store, batch=2)
        assert feed.catch_up() == 3
        found = {r["id"]: r for r in store.rows(list(store.keys_of(first).values())).values()}
        assert set(found) == set(first)
        assert "13812345678" not in found[first[0]]["text"]  # the log's masked text, not the request's
        assert found[first[1]]["lead"] == "单位1" and found[first[1]]["topic"] == "城乡建设/环卫"

        later = classify(log, TEXTS[3:])  # accepted while no feeder ran
        store.set_labels(first[0], topic="农林牧渔/畜牧", lead="市农业农村局", verdict="correct")
        again = LogFeed(db, home / "similar", projection, store)  # a feeder started anew
        assert again.catch_up() == 2  # only the rows after the watermark
        assert set(store.keys_of(later)) == set(later) and store.count() == 5

        again._save(0)  # the same rows fed a second time (ids that started again)
        again.catch_up()
        assert store.count() == 5
        relabelled = store.rows([store.keys_of([first[0]])[first[0]]])
        assert next(iter(relabelled.values()))["lead"] == "市农业农村局"  # the verdict's labels stay
    finally:
        log.close()
        store.close()
        db.dispose()


def test_a_row_committed_after_a_later_id_is_fed_when_looking_back(tmp_path: Path) -> None:
    """PostgreSQL hands out ids before commit: a row may appear below the watermark (ids 1, 2, 4 fed, then 3)."""
    home = with_projection(tmp_path / "home")
    db = make_engine(f"sqlite:///{home / 'sqmy.db'}")
    projection = Projection.load(home / "similar" / "projection")
    assert projection is not None
    store = ItemStore(home / "similar" / "items.db")
    log = ClassificationLog(db)

    def logged(ids: list[int]) -> list[str]:
        items = [{"id": None, "title": "", "text": TEXTS[i]} for i in ids]
        results = [result(i) for i in ids]
        built = [(lambda b=b, i=i: b() | {"id": i}) for b, i in zip(row_builders(items, results, "api", raw=False),
                                                                     ids, strict=True)]
        log.add(built)
        log.barrier().result(timeout=30)
        return [r["classification_id"] for r in results]

    try:
        early = logged([1, 2, 4])
        feed = LogFeed(db, home / "similar", projection, store, lookback=10)
        feed.catch_up()
        late = logged([3])
        feed.catch_up()
        assert set(store.keys_of(early + late)) == set(early + late)
    finally:
        log.close()
        store.close()
        db.dispose()


def test_without_an_indexer_process_the_server_feeds_the_index_itself(tmp_path: Path, monkeypatch: Any) -> None:
    """The indexer process cannot be started: the service logs it and tails the log in a thread of its own, so a
    classification still reaches the index with no lookup asking for it."""
    import time

    import sqmy.app.indexing as indexing
    from sqmy.core.config import Settings

    def refuse(_method: str) -> Any:
        raise OSError("no processes here")

    monkeypatch.setattr(indexing.multiprocessing, "get_context", refuse)
    home = with_projection(tmp_path / "home")
    settings = Settings(HOME=home, SIMILAR="on")
    db = make_engine(settings.database_url)
    log = ClassificationLog(db)
    service = indexing.FedSimilarService(settings, db, log.barrier)
    service.start()
    try:
        index = service.ready()
        ids = classify(log, TEXTS[:2])
        deadline = time.monotonic() + 120  # a deadline for a busy machine, not a measured duration
        while len(index.store.keys_of(ids)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert set(index.store.keys_of(ids)) == set(ids)
        assert service.in_process
        later = classify(log, TEXTS[2:3])
        service.flush()  # what a lookup does first: everything classified before it is in the graph
        assert later[0] in [r["id"] for r in index.similar(TEXTS[2], k=5)]
    finally:
        service.close()
        log.close()
        db.dispose()


def test_a_home_indexed_before_the_feed_is_not_read_again_from_the_start(tmp_path: Path) -> None:
    """The service indexed its classifications itself before the feed existed: the feed starts after the last
    one indexed instead of reading the whole log again."""
    from sqlalchemy import select

    from sqmy.app.similar.feed import COLUMNS, entry_of
    from sqmy.app.similar.index import store_entries

    home, db, log, projection, store = fed_home(tmp_path)
    try:
        classify(log, TEXTS[:3])
        with db.connect() as conn:  # indexed the way the service used to, per request
            store_entries(store, projection, [entry_of(r) for r in conn.execute(select(*COLUMNS)).all()])
        later = classify(log, TEXTS[3:])
        feed = LogFeed(db, home / "similar", projection, store)
        assert feed.catch_up() == 2  # the two rows after the last one indexed, not all five
        assert set(store.keys_of(later)) == set(later) and store.count() == 5
        assert feed.watermark() == 5
    finally:
        log.close()
        store.close()
        db.dispose()
