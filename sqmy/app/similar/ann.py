"""Where usearch is imported (the HNSW graphs of ``index`` and ``meaning``)."""

from __future__ import annotations

import contextlib
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
