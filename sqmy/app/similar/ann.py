"""Where usearch is imported, and the snapshot files of its HNSW graphs (``index``'s by characters, ``ann-<key>``;
``meaning``'s, ``meaning-<seq>``)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from usearch.index import Index


def usearch_index() -> type[Index]:
    """usearch's ``Index`` class, with onnxruntime (when installed) imported first: imported after usearch (whose
    numkong kernels bring their own libgomp), onnxruntime 1.32's extension crashes the process on import — a server
    whose similarity index was open died when its BERT engine loaded. Every usearch import goes through here."""
    with contextlib.suppress(ImportError):
        import onnxruntime  # noqa: F401
    from usearch.index import Index

    return Index


def snapshot_path(directory: Path, prefix: str, key: int) -> Path:
    return directory / f"{prefix}-{key}.usearch"


def snapshots(directory: Path, prefix: str) -> list[int]:
    """The keys of the snapshots ``<prefix>-<key>.usearch`` in ``directory``, oldest first."""
    return sorted(int(p.stem.split("-")[1]) for p in directory.glob(f"{prefix}-*.usearch"))


def write_snapshot(graph: Index, directory: Path, prefix: str, key: int, older: Sequence[int]) -> None:
    """Save ``graph`` as snapshot ``key`` (written under a temporary name, then renamed: a reader never sees half a
    file) and delete the ``older`` snapshots. The caller holds the directory's snapshot lock."""
    temporary = directory / f"{prefix}.tmp-{os.getpid()}"
    graph.save(str(temporary))
    os.replace(temporary, snapshot_path(directory, prefix, key))
    for old in older:
        snapshot_path(directory, prefix, old).unlink(missing_ok=True)
