"""The predictor every backend runs: a picklable spec that loads the promoted model once per process."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from service.archive.readers import Item
from service.archive.rows import ChunkResult, Layout, process_chunk

if TYPE_CHECKING:  # kept out of the reading/writing parent process, which then stays small (no scikit-learn)
    from models.base import Doc
    from service.routing import Router
    from sqmy.config import Settings


class ModelMissingError(RuntimeError):
    """No promoted model can serve the requested engine."""


@dataclass(frozen=True)
class PredictorSpec:
    """Where the model lives and how to route; cheap to send to a worker process or a Ray actor."""

    models_dir: Path
    engine: str = "auto"
    policy: dict[str, Any] = field(default_factory=dict)  # RoutingPolicy fields; defaults when empty
    ensemble: bool = False
    taxonomy_path: Path | None = None
    directory_path: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings, engine: str = "auto") -> PredictorSpec:
        policy = {"review_threshold": settings.REVIEW_THRESHOLD,
                  "dept_review_threshold": settings.DEPT_REVIEW_THRESHOLD,
                  "assist_threshold": settings.ASSIST_THRESHOLD, "max_assists": settings.MAX_ASSISTS,
                  "top_k": settings.TOP_K}
        return cls(settings.models_dir, engine, policy, settings.ENSEMBLE, settings.TAXONOMY_PATH,
                   settings.DIRECTORY_PATH)

    def load(self) -> Predictor:
        """Load the engines ``engine`` needs (all promoted ones for ``auto``); ``ModelMissingError`` if none."""
        from models import ModelRegistry
        from service.reload import load_current_engines
        from service.routing import Router, RoutingPolicy

        names = (self.engine,) if self.engine in ("tfidf", "bert") else ("tfidf", "bert")
        engines = load_current_engines(ModelRegistry(self.models_dir), names=names,
                                       ensemble=self.ensemble or self.engine == "ensemble")
        if not engines:
            raise ModelMissingError(f"{self.models_dir} 中没有可用模型，请先运行：sqmy train --engine tfidf")
        router = Router(engines, RoutingPolicy(**self.policy))
        router.pick(self.engine)
        return Predictor(router, self.engine, self.unit_resolver())

    def check(self) -> None:
        """Fail early, without loading anything, when no promoted model can serve ``engine``."""
        pointers = self.models_dir / "current.json"  # what ModelRegistry.current reads, without its imports
        current = orjson.loads(pointers.read_bytes()) if pointers.is_file() else {}
        if self.engine == "ensemble":
            missing = [n for n in ("bert", "tfidf") if not current.get(n)]
            if missing:
                raise ModelMissingError(f"引擎 ensemble 需要 BERT 和 TF-IDF 两个模型（缺少：{'、'.join(missing)}）")
            return
        names = [self.engine] if self.engine in ("tfidf", "bert") else ["tfidf", "bert"]
        if not any(current.get(n) for n in names):
            raise ModelMissingError(f"引擎 {self.engine} 没有可用模型（{self.models_dir}），"
                                    "请先运行：sqmy train --engine tfidf")

    def unit_resolver(self) -> Any:
        return _unit_resolver(self.taxonomy_path, self.directory_path)


def _unit_resolver(taxonomy_path: Path | None, directory_path: Path | None) -> Any:
    """Alias → full unit name through the directory (``城管`` → 市综合行政执法局); unknown names stay as they are."""
    if taxonomy_path is None or directory_path is None:
        return lambda name: name
    from sqmy.labels import UnknownLabelError, load_label_space

    directory = load_label_space(taxonomy_path, directory_path).directory

    def resolve(name: str) -> str:
        try:
            return directory.resolve(name)
        except UnknownLabelError:
            return name
    return resolve


class Predictor:
    """A loaded router bound to one engine choice."""

    def __init__(self, router: Router, engine: str = "auto", resolve_unit: Any = None) -> None:
        self.router, self.engine = router, engine
        self.resolve_unit = resolve_unit or (lambda name: name)

    def classify(self, docs: list[Doc]) -> list[dict[str, Any]]:
        return self.router.classify(docs, engine=self.engine)

    def process(self, items: Sequence[Item], layout: Layout) -> ChunkResult:
        return process_chunk(items, layout, self.classify, self.resolve_unit)
