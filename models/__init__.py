"""Classification engines behind one interface (``fit``, ``predict_proba``, ``save``, ``load``)."""

from models.base import Doc, Engine, HeadProbabilities, Targets
from models.registry import ModelRegistry

__all__ = ["Doc", "Engine", "HeadProbabilities", "ModelRegistry", "Targets", "load_engine"]


def load_engine(path):
    """Load any saved engine from its artifact directory (dispatch on ``metadata.json``'s engine)."""
    from models.base import read_metadata

    engine = read_metadata(path)["engine"]
    if engine == "tfidf":
        from models.tfidf import TfidfEngine

        return TfidfEngine.load(path)
    if engine == "bert":
        from models.bert import BertEngine

        return BertEngine.load(path)
    raise ValueError(f"{path}: unsupported engine {engine!r}")
