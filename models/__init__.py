"""Classification engines behind one interface (``fit``, ``predict_proba``, ``save``, ``load``).

Names are imported on first use, so that ``sqmy.models.registry`` (pointers, metadata) loads without numpy or
scikit-learn: an archive batch's parent process and ``sqmy batch --help`` stay small and fast."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqmy.models.base import Doc, Engine, HeadProbabilities, Targets
    from sqmy.models.registry import ModelRegistry

__all__ = ["Doc", "Engine", "HeadProbabilities", "ModelRegistry", "Targets", "load_engine"]
_LAZY = {"Doc": "base", "Engine": "base", "HeadProbabilities": "base", "Targets": "base", "ModelRegistry": "registry"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"sqmy.models.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'sqmy.models' has no attribute {name!r}")


def load_engine(path: Path) -> Engine:
    """Load any saved engine from its artifact directory (dispatch on ``metadata.json``'s engine)."""
    from sqmy.models.metadata import read_metadata

    engine = read_metadata(path)["engine"]
    if engine == "tfidf":
        from sqmy.models.tfidf import TfidfEngine

        return TfidfEngine.load(path)
    if engine == "bert":
        from sqmy.models.bert import BertEngine

        return BertEngine.load(path)
    raise ValueError(f"{path}: unsupported engine {engine!r}")
