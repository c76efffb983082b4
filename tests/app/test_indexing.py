"""The similarity index fed in batches: items classified one request at a time reach the index many per call, and a
lookup right after still finds every one of them."""

from __future__ import annotations

from pathlib import Path

from sqmy.app.indexing import BatchedSimilarService
from sqmy.app.similar.store import Entry
from sqmy.core.config import Settings
from tests.utils.similar import with_projection

TEXTS = ["青溪市白沙镇幸福村的垃圾好几天没人清运，臭气熏天", "学校门口早晚高峰堵车严重，建议增设红绿灯",
         "某某路上的餐馆油烟直排，楼上居民没法开窗", "小区3栋门口的路灯坏了一个多月，晚上出门不安全"]


def test_entries_added_one_by_one_are_indexed_together_and_found_at_once(tmp_path: Path) -> None:
    settings = Settings(HOME=with_projection(tmp_path / "home"))
    service = BatchedSimilarService(settings, interval=30.0, max_entries=1_000)  # hand-over by flush only
    service.start()
    index = service.ready()
    calls: list[int] = []
    add = index.add
    index.add = lambda entries: calls.append(len(entries)) or add(entries)  # type: ignore[method-assign]
    try:
        for n in range(24):  # what 24 single-item requests hand over
            service.add([Entry(id=f"c{n}", text=f"{TEXTS[n % 4]}（第{n}次反映）", title="", source="api",
                               topic=None, lead=None, date="2026-12-07")])
        service.flush()  # what a similar lookup does first
        found = index.similar(TEXTS[3], k=20)
    finally:
        service.close()
    assert calls == [24]
    assert {row["id"] for row in found} >= {f"c{n}" for n in range(3, 24, 4)}
