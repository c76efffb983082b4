"""The engine contract shared by TF-IDF and BERT (artifact metadata: ``sqmy.models.metadata``)."""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache, wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

T = TypeVar("T")


@dataclass(frozen=True)
class Doc:
    """One item to classify."""

    text: str
    title: str = ""


@dataclass
class Targets:
    """Training labels, one entry per doc; ``None`` where a row does not carry that label."""

    topic_l1: list[str | None]
    topic_l2: list[str | None] = field(default_factory=list)  # "level1/level2"
    lead: list[str | None] = field(default_factory=list)
    involved: list[list[str] | None] = field(default_factory=list)  # lead + assisting units
    topic_l3: list[str | None] = field(default_factory=list)  # "level1/level2/level3"

    def __post_init__(self) -> None:
        n = len(self.topic_l1)
        for name in ("topic_l2", "lead", "involved", "topic_l3"):
            value = getattr(self, name)
            if not value:
                setattr(self, name, [None] * n)
            elif len(value) != n:
                raise ValueError(f"Targets.{name} has {len(value)} rows, topic_l1 has {n}")


@dataclass
class HeadProbabilities:
    """Calibrated probabilities of every head; columns follow the engine's ``*_classes_``."""

    topic_l1: np.ndarray  # (n, n_l1), rows sum to 1
    topic_l2: np.ndarray  # (n, n_l2), rows sum to 1, consistent with topic_l1
    lead: np.ndarray  # (n, n_units), rows sum to 1
    involved: np.ndarray  # (n, n_involved), independent probabilities
    topic_l3: np.ndarray | None = None  # (n, n_l3): P(level 3 | its level 2), for engines with a level-3 head
    versions: list[str] | None = None  # per row, the model version(s) that answered, where rows differ (a cascade)


class Params:
    """scikit-learn's parameter protocol (``get_params``, ``set_params``, the repr) without importing scikit-learn,
    whose import alone takes most of a second: keyword-only ``__init__`` arguments, stored under their names.
    scikit-learn's ``clone`` and ``check_is_fitted`` accept such objects (duck typing)."""

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return sorted(p.name for p in signature.parameters.values()
                      if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Params:
        unknown = set(params) - set(self._param_names())
        if unknown:
            raise ValueError(f"invalid parameters for {type(self).__name__}: {sorted(unknown)}")
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    if TYPE_CHECKING:  # engines set their fitted state in fit/load (scikit-learn's untyped base allowed it)
        def __getattr__(self, name: str) -> Any: ...

        def __setattr__(self, name: str, value: Any) -> None: ...

    def __sklearn_tags__(self) -> Any:
        """The tags ``BaseEstimator`` gives (``check_is_fitted`` reads them); scikit-learn is imported only when it
        asks for them."""
        from sklearn.utils import Tags, TargetTags

        return Tags(estimator_type=None, target_tags=TargetTags(required=False))


FitProgress = Callable[[str, float, float], None]
"""How an engine reports its training: ``(stage, units done, units total)``, one unit ≈ one item through the model."""


class Engine(Params, ABC):
    """scikit-learn-style engine: hyperparameters in ``__init__``, fitted state in ``*_`` attributes."""

    name: str = "engine"

    topic_l1_classes_: list[str]
    topic_l2_classes_: list[str]
    lead_classes_: list[str]
    involved_classes_: list[str]
    topic_l3_classes_: list[str] = []  # noqa: RUF012  (engines without a level-3 head keep it empty)
    metadata_: dict[str, Any]

    @abstractmethod
    def fit(self, docs: Sequence[Doc], targets: Targets, log: Callable[[str], None] | None = None,
            **fit_params: Any) -> Engine:
        """Fit on ``docs``; ``fit_params`` are engine-specific (BERT: ``progress``, a ``FitProgress``, and
        ``checkpoint_dir``, where a killed run leaves what a rerun resumes from); engines ignore the ones they lack."""

    @abstractmethod
    def predict_proba(self, docs: Sequence[Doc]) -> HeadProbabilities: ...

    @abstractmethod
    def save(self, path: Path) -> Path: ...

    @classmethod
    @abstractmethod
    def load(cls, path: Path) -> Engine: ...

    @property
    def version(self) -> str:
        return str(getattr(self, "metadata_", {}).get("version", "unversioned"))


def check_docs(docs: Any) -> Sequence[Doc]:
    """Reject a bare string where a batch is expected (it would be iterated character by character)."""
    if isinstance(docs, str | Doc):
        raise TypeError("expected a sequence of Doc, got a single item; wrap it in a list")
    return docs


def per_class_list(build: Callable[[Sequence[str]], T]) -> Callable[[Sequence[str]], T]:
    """``build(classes)`` cached per list object: an engine's class lists do not change once fitted, and routing
    asks for every item."""
    cache: dict[int, tuple[Sequence[str], T]] = {}

    @wraps(build)
    def cached(classes: Sequence[str]) -> T:
        entry = cache.get(id(classes))
        if entry is None or entry[0] is not classes:
            if len(cache) >= 64:
                cache.clear()
            entry = cache[id(classes)] = (classes, build(classes))
        return entry[1]

    return cached


@per_class_list
def families(classes: Sequence[str]) -> dict[str, list[int]]:
    """The indices of ``classes`` (topic paths ``a/b`` or ``a/b/c``) grouped by their parent path, in order."""
    grouped: dict[str, list[int]] = {}
    for j, name in enumerate(classes):
        grouped.setdefault(name.rsplit("/", 1)[0], []).append(j)
    return grouped


@per_class_list
def class_paths(classes: Sequence[str]) -> list[tuple[str, ...]]:
    """Each class name (``a/b/c``) as its path tuple."""
    return [tuple(name.split("/")) for name in classes]


def choose_topic_path(l1_classes: Sequence[str], l2_classes: Sequence[str], l1_row: np.ndarray,
                      l2_row: np.ndarray) -> tuple[int, int | None]:
    """The routing's topic choice for one row of probabilities: the index of the most probable level 1 and of its
    most probable level-2 child (``None`` without a level-2 head or when the level 1 has no children)."""
    best_l1 = int(np.argmax(l1_row))
    children = families(l2_classes).get(l1_classes[best_l1], [])
    if len(l2_row) and children:
        return best_l1, children[int(np.argmax(l2_row[children]))]  # the first of equals, as max() would
    return best_l1, None


@lru_cache(maxsize=64)
def parent_matrix(children: tuple[str, ...], parents: tuple[str, ...]) -> np.ndarray:
    """``(len(children), len(parents))`` indicator: child column j belongs to parent i (a child whose parent is
    not listed has an all-zero row)."""
    index = {p: i for i, p in enumerate(parents)}
    out = np.zeros((len(children), len(parents)), dtype=np.float32)
    for j, child in enumerate(children):
        parent = child.rsplit("/", 1)[0] if child.count("/") > 1 else child.split("/")[0]
        if parent in index:
            out[j, index[parent]] = 1.0
    return out


@per_class_list
def _l3_family_matrix(l3_classes: Sequence[str]) -> np.ndarray:
    """``parent_matrix`` of level-3 classes and their level-2 parents, per class list."""
    return parent_matrix(tuple(l3_classes), tuple(dict.fromkeys(c.rsplit("/", 1)[0] for c in l3_classes)))


def conditional_l3(p3: np.ndarray, l3_classes: Sequence[str]) -> np.ndarray:
    """P(level 3 | its level 2): each level-2 family of columns renormalised to sum to one."""
    member = _l3_family_matrix(l3_classes).astype(p3.dtype, copy=False)
    totals = (p3 @ member) @ member.T  # each column's family total
    out: np.ndarray = p3 / np.maximum(totals, 1e-12)
    return out


def hierarchical_l2(l1: np.ndarray, l1_classes: list[str], l2: np.ndarray, l2_classes: list[str]) -> np.ndarray:
    """Make level-2 probabilities consistent with level 1: P(l2) = P(l1) · P(l2 | l1).

    ``P(l2 | l1)`` is the level-2 head's probability renormalised within its parent; a level-1 class
    without level-2 children keeps its mass on no level-2 column (the path then stops at level 1)."""
    if l2.shape[1] == 0:
        return l2
    member = parent_matrix(tuple(l2_classes), tuple(l1_classes)).astype(l2.dtype, copy=False)
    within = (l2 * member.any(axis=1)) / np.maximum((l2 @ member) @ member.T, 1e-12)  # P(l2 | its l1)
    out: np.ndarray = within * (l1 @ member.T)
    return out
