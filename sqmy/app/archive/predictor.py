"""The predictor every backend runs: a picklable spec that loads the promoted model once per process."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqmy.app.archive.readers import Item
from sqmy.app.archive.rows import ChunkResult, Layout, process_chunk
from sqmy.app.policy import RoutingPolicy, engines_needed
from sqmy.core.config import TRAINABLE_ENGINES, EngineName, Settings, ensemble_bert_budget
from sqmy.models.registry import ModelRegistry

if TYPE_CHECKING:  # kept out of the reading/writing parent process, which then stays small (no scikit-learn)
    from sqmy.app.routing import Router
    from sqmy.models.base import Doc


class ModelMissingError(RuntimeError):
    """No promoted model can serve the requested engine."""


@dataclass(frozen=True)
class PredictorSpec:
    """Where the model lives and how to route; cheap to send to a worker process or a Ray actor."""

    models_dir: Path
    engine: str = "auto"
    policy: RoutingPolicy = field(default_factory=RoutingPolicy)
    ensemble: bool = False
    taxonomy_path: Path | None = None
    directory_path: Path | None = None
    duty_prior_weight: float = 0.0
    cascade: float | None = None  # SQMY_CASCADE_THRESHOLD
    bert_budget: tuple[int, int] | None = None  # SQMY_ENSEMBLE_BERT_MAX_LENGTH / _TAIL_TOKENS

    @classmethod
    def from_settings(cls, settings: Settings, engine: str = "auto") -> PredictorSpec:
        return cls(settings.models_dir, engine, RoutingPolicy.from_settings(settings), settings.ENSEMBLE,
                   settings.TAXONOMY_PATH, settings.DIRECTORY_PATH, settings.DUTY_PRIOR_WEIGHT,
                   settings.CASCADE_THRESHOLD, ensemble_bert_budget(settings))

    def load(self) -> Predictor:
        """Load the engines ``engine`` needs (all promoted ones for ``auto``); ``ModelMissingError`` if none."""
        from sqmy.app.reload import load_current_engines
        from sqmy.app.routing import Router

        engines = load_current_engines(ModelRegistry(self.models_dir), names=engines_needed(self.engine),
                                       ensemble=self.ensemble or self.engine == EngineName.ENSEMBLE,
                                       cascade=self.cascade, bert_budget=self.bert_budget)
        if not engines:
            raise ModelMissingError(f"{self.models_dir} 中没有可用模型，请先运行：sqmy train --engine tfidf")
        knowledge = None
        if self.taxonomy_path is not None and self.directory_path is not None:
            from sqmy.app.knowledge import DirectoryKnowledge

            knowledge = DirectoryKnowledge.load(self.taxonomy_path, self.directory_path, self.duty_prior_weight)
        router = Router(engines, self.policy, knowledge)
        router.plan(self.engine)
        return Predictor(router, self.engine, self.unit_resolver())

    def check(self) -> None:
        """Fail early, without loading any model, when no promoted model can serve ``engine``."""
        registry = ModelRegistry(self.models_dir)
        if self.engine == EngineName.ENSEMBLE:
            missing = [n for n in TRAINABLE_ENGINES if not registry.current(n)]
            if missing:
                raise ModelMissingError(f"引擎 ensemble 需要 BERT 和 TF-IDF 两个模型（缺少：{'、'.join(missing)}）")
            return
        if not any(registry.current(n) for n in engines_needed(self.engine)):
            raise ModelMissingError(f"引擎 {self.engine} 没有可用模型（{self.models_dir}），"
                                    "请先运行：sqmy train --engine tfidf")

    def unit_resolver(self) -> Callable[[str], str]:
        return _unit_resolver(self.taxonomy_path, self.directory_path)


def _unit_resolver(taxonomy_path: Path | None, directory_path: Path | None) -> Callable[[str], str]:
    """Alias → full unit name through the directory (``城管`` → 市综合行政执法局); unknown names stay as they are."""
    if taxonomy_path is None or directory_path is None:
        return lambda name: name
    from sqmy.core.labels import UnknownLabelError, load_label_space

    directory = load_label_space(taxonomy_path, directory_path).directory

    def resolve(name: str) -> str:
        try:
            return directory.resolve(name)
        except UnknownLabelError:
            return name
    return resolve


class Predictor:
    """A loaded router bound to one engine choice."""

    def __init__(self, router: Router, engine: str = "auto", resolve_unit: Callable[[str], str] | None = None) -> None:
        self.router, self.engine = router, engine
        self.resolve_unit = resolve_unit or (lambda name: name)

    def classify(self, docs: list[Doc]) -> list[dict[str, Any]]:
        return [s.to_dict() for s in self.router.classify(docs, engine=self.engine)]

    def process(self, items: Sequence[Item], layout: Layout) -> ChunkResult:
        return process_chunk(items, layout, self.classify, self.resolve_unit)
