"""The TF-IDF engine's artifact directory: JSON and numpy arrays, no pickle, so that a model loads in a fraction of
a second without importing scikit-learn.

=====================  ==========================================================================================
``tfidf.json``         format, parameters, every head's labels and calibration, column slices (written last:
                       its presence means the artifact is complete)
``weights.npy``        float32 ``(n_features, n_outputs)``: every head's weights side by side; memory-mapped on
                       load, so one item reads only its own rows and worker processes share the pages
``bias.npy``           float32, one per output column
``vocabulary.json``    the terms of each feature block in column order; ``idf.npy`` their idf weights
``metadata.json``      as for every engine (``sqmy.models.metadata``)
=====================  ==========================================================================================

Models saved before this format hold one pickled engine, ``model.joblib``. They still load: the pickle is read
once (with scikit-learn, as before), and the files above are written beside it, so the next load is fast. A
registry that cannot be written to only loses that speed-up."""

from __future__ import annotations

import logging
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from sqmy.models.features import IDF_NAME, VOCABULARY_NAME, TextFeatures
from sqmy.models.tfidf_heads import HEAD_KINDS

STATE_NAME = "tfidf.json"
WEIGHTS_NAME = "weights.npy"
BIAS_NAME = "bias.npy"
LEGACY_NAME = "model.joblib"
FORMAT = 1
FILES = (VOCABULARY_NAME, IDF_NAME, WEIGHTS_NAME, BIAS_NAME, STATE_NAME)  # STATE_NAME last

log = logging.getLogger(__name__)


@dataclass
class Artifact:
    """A fitted TF-IDF engine's state, as stored (``heads`` maps the engine's head attributes to heads or None)."""

    params: dict[str, Any]
    features: TextFeatures
    heads: dict[str, Any]
    weights: np.ndarray  # (n_features, n_outputs); a read-only memory map once loaded
    bias: np.ndarray
    slices: list[int]


def write(artifact: Artifact, path: Path) -> None:
    """Write ``artifact``'s files into ``path`` (``tfidf.json`` last)."""
    path.mkdir(parents=True, exist_ok=True)
    artifact.features.save(path)
    np.save(path / WEIGHTS_NAME, np.asarray(artifact.weights), allow_pickle=False)
    np.save(path / BIAS_NAME, artifact.bias, allow_pickle=False)
    heads = {name: head.state() if head is not None else None for name, head in artifact.heads.items()}
    state = {"format": FORMAT, "params": artifact.params, "features": artifact.features.state(), "heads": heads,
             "slices": list(artifact.slices)}
    (path / STATE_NAME).write_bytes(orjson.dumps(state))


def is_legacy(path: Path) -> bool:
    """Whether ``path`` holds only the earlier pickled format."""
    return not (path / STATE_NAME).is_file() and (path / LEGACY_NAME).is_file()


def read(path: Path) -> Artifact:
    """The artifact in ``path``; ``ValueError`` for a format this version does not know."""
    if not (path / STATE_NAME).is_file():
        raise FileNotFoundError(f"{path}: neither {STATE_NAME} nor {LEGACY_NAME}; not a TF-IDF model")
    state: dict[str, Any] = orjson.loads((path / STATE_NAME).read_bytes())
    if state.get("format") != FORMAT:
        raise ValueError(f"{path}: TF-IDF artifact format {state.get('format')} (this version reads {FORMAT})")
    heads = {name: HEAD_KINDS[saved["kind"]].from_state(saved) if saved else None
             for name, saved in state["heads"].items()}
    return Artifact(state["params"], TextFeatures.load(path, state["features"]), heads,
                    np.load(path / WEIGHTS_NAME, mmap_mode="r", allow_pickle=False),
                    np.load(path / BIAS_NAME, allow_pickle=False), list(state["slices"]))


def read_legacy(path: Path, metadata: dict[str, Any]) -> Any:
    """The engine pickled in ``model.joblib`` as it was saved (the caller brings it to the current attributes)."""
    import joblib
    import sklearn

    saved = metadata.get("sklearn_version")
    if saved and saved != sklearn.__version__:
        warnings.warn(f"{path}: saved with scikit-learn {saved}, running {sklearn.__version__}", stacklevel=3)
    return joblib.load(path / LEGACY_NAME)


def convert_in_place(artifact: Artifact, path: Path) -> None:
    """Write the current format beside ``model.joblib``, each file by an atomic rename and ``tfidf.json`` last,
    so that another process loading the same version meanwhile reads either format whole. A registry that cannot
    be written keeps loading the pickle."""
    staging = path / f".convert-{os.getpid()}"
    try:
        write(artifact, staging)
        for name in FILES:
            if (staging / name).is_file():
                (staging / name).replace(path / name)
        log.info("converted %s to the %s format", path, STATE_NAME)
    except OSError as exc:
        log.warning("could not convert %s to the faster format (%s); it keeps loading from %s", path, exc,
                    LEGACY_NAME)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
