"""The model watcher: promoted versions are swapped into the running router; a broken one never replaces a
working one."""

import shutil

from sqmy.app.metrics import Metrics
from sqmy.app.policy import RoutingPolicy
from sqmy.app.reload import ModelWatcher
from sqmy.app.routing import Router
from sqmy.models import ModelRegistry
from sqmy.models.metadata import read_metadata, write_metadata


def _copy_version(registry: ModelRegistry, version: str, new: str) -> None:
    shutil.copytree(registry.path(version), registry.root / new)
    meta = read_metadata(registry.root / new)
    write_metadata(registry.root / new, meta | {"version": new})


def test_watcher_swaps_in_a_promoted_version_and_keeps_serving_through_a_broken_one(home):
    registry = ModelRegistry(home / "models")
    first = registry.current("tfidf")
    router = Router({}, RoutingPolicy())
    watcher = ModelWatcher(router, registry, Metrics(), ensemble=True, interval=60)

    assert watcher.sync() == {"tfidf": {"from": None, "to": first}}
    assert router.pick("auto").version == first
    assert watcher.sync() == {}  # nothing new

    _copy_version(registry, first, "tfidf-second")
    registry.set_current("tfidf", "tfidf-second")
    assert watcher.sync() == {"tfidf": {"from": first, "to": "tfidf-second"}}
    assert router.pick("tfidf").version == "tfidf-second"

    _copy_version(registry, first, "tfidf-broken")
    for artifact in (registry.root / "tfidf-broken").iterdir():
        if artifact.name != "metadata.json":
            artifact.unlink() if artifact.is_file() else shutil.rmtree(artifact)
    registry.set_current("tfidf", "tfidf-broken")
    assert watcher.sync() == {}  # cannot load it: the working version stays
    assert router.pick("tfidf").version == "tfidf-second"
    assert watcher.sync() == {}  # and it is not retried on every tick
