"""The Ray backend: the same predictor as the local workers, run through Ray Data with an actor pool.

One streaming read task (on the driver's node, where the file is) reads the archive in chunks; each chunk is one
row of the dataset (the pickled items). ``map_batches`` sends chunks to a pool of ``concurrency`` actors of
:class:`ArchiveClassifier`, a class-based UDF that loads the model once; results come back to the driver in input
order (``preserve_order``), which writes and checkpoints them exactly like the local backends.

``ray`` is imported only here, and this module only when ``--backend ray`` is asked for.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sqmy.app.archive.predictor import PredictorSpec
from sqmy.app.archive.readers import chunked, iter_items
from sqmy.app.archive.rows import ChunkResult, Layout

LOCAL_OBJECT_STORE_BYTES = 256 * 1024 * 1024


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError("--backend ray 需要安装 ray：pip install 'ray[data]'（或 pip install -e '.[dev]'）") from exc
    return ray


def _datasource(path: Path, skip: int, sheet: str | None, chunk_size: int) -> Any:
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask

    class ArchiveDatasource(Datasource):
        """Streams the archive with the project's own readers; one row per chunk of items."""

        def get_name(self) -> str:
            return "SqmyArchive"

        def estimate_inmemory_data_size(self) -> int | None:
            return None

        @property
        def supports_distributed_reads(self) -> bool:
            return False  # the file is on the driver's node

        def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None,
                           data_context: Any = None) -> list[ReadTask]:
            def read() -> Iterator[Any]:
                import pyarrow as pa

                for chunk in chunked(iter_items(path, skip=skip, sheet=sheet), chunk_size):
                    yield pa.table({"items": pa.array([pickle.dumps(chunk)], pa.binary())})

            meta = BlockMetadata(num_rows=None, size_bytes=None, input_files=(str(path),), exec_stats=None)
            return [ReadTask(read, meta, per_task_row_limit=per_task_row_limit)]

    return ArchiveDatasource()  # type: ignore[no-untyped-call]


class ArchiveClassifier:
    """Ray Data class-based UDF: loads the predictor once per actor, classifies one chunk per row."""

    def __init__(self, spec: PredictorSpec, layout: Layout) -> None:
        self.predictor, self.layout = spec.load(), layout

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        results = [pickle.dumps(self.predictor.process(pickle.loads(blob), self.layout))
                   for blob in batch.column("items").to_pylist()]
        return pa.table({"result": pa.array(results, pa.binary())})


def run_ray(path: Path, *, skip: int, sheet: str | None, chunk_size: int, layout: Layout, spec: PredictorSpec,
            workers: int, address: str | None = None) -> Iterable[ChunkResult]:
    """Yield chunk results in input order; starts a local Ray instance unless ``address`` names a cluster."""
    ray = _import_ray()
    import logging

    logging.getLogger("ray").setLevel(logging.WARNING)
    started = False
    if not ray.is_initialized():
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        if address:
            ray.init(address=address, **options)
        else:
            ray.init(num_cpus=max(workers, 1), object_store_memory=LOCAL_OBJECT_STORE_BYTES, **options)
        started = True
    try:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        dataset = ray.data.read_datasource(_datasource(Path(path).resolve(), skip, sheet, chunk_size),
                                           override_num_blocks=1, num_cpus=0)
        dataset = dataset.map_batches(ArchiveClassifier, fn_constructor_kwargs={"spec": spec, "layout": layout},
                                      batch_size=1, batch_format="pyarrow",
                                      compute=ray.data.ActorPoolStrategy(size=max(workers, 1)))
        for batch in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
            for blob in batch.column("result").to_pylist():
                yield pickle.loads(blob)
    finally:
        if started:
            ray.shutdown()
