"""Reclassify a whole archive: read in chunks, classify (here, in worker processes or on Ray), write in input order,
checkpoint, and summarise."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.archive import convert
from service.archive.output import OutputFiles, fingerprint, load_checkpoint
from service.archive.predictor import Predictor, PredictorSpec
from service.archive.progress import Progress
from service.archive.readers import archive_format, chunked, count_rows, first_record, header_record, iter_items
from service.archive.rows import ChunkResult, Columns, Layout, LineEncoder
from service.archive.summary import BatchSummary
from sqmy.progress import write_json_atomic

if TYPE_CHECKING:
    from service.routing import Router

CHECKPOINT_EVERY_S = 0.5
BACKENDS = ("local", "ray")


def run_batch(
    in_path: Path, out_path: Path, router: Router | None = None, *, spec: PredictorSpec | None = None,
    engine: str = "auto", columns: Columns | None = None, chunk_size: int = 256, max_text_chars: int = 20_000,
    progress: Progress | None = None, workers: int = 1, backend: str = "local", ray_address: str | None = None,
    resume: bool = False, summary_path: Path | None = None, sheet: str | None = None,
    on_chunk: Callable[[ChunkResult], None] | None = None,
) -> BatchSummary:
    """Route every row of ``in_path`` into ``out_path`` (formats from the suffixes); unreadable or unroutable rows
    go to ``OUT.errors.jsonl``.

    With one local worker and a ``router`` the model already loaded is used; worker processes and Ray actors load
    the model described by ``spec``. With ``resume`` a run killed earlier continues from its checkpoint.
    ``ValueError`` (in Chinese) for an unusable input, output or checkpoint.
    """
    in_path, out_path = Path(in_path), Path(out_path)
    if backend not in BACKENDS:
        raise ValueError(f"未知的后端 {backend!r}（可选：{'、'.join(BACKENDS)}）")
    archive_format(in_path)
    out_format = archive_format(out_path)
    if out_path.resolve() == in_path.resolve():
        raise ValueError("输出文件不能与输入文件相同")
    if router is None and spec is None:
        raise ValueError("run_batch 需要 router 或 spec")
    progress = progress or Progress(stream=None)
    options = {"engine": engine, "output_format": out_format, "sheet": sheet}
    checkpoint = load_checkpoint(out_path) if resume else None
    if checkpoint is not None:
        if checkpoint["input"] != fingerprint(in_path):
            raise ValueError(f"无法续跑：输入文件 {in_path} 与上次运行时不同，请去掉 --resume 重新开始")
        if checkpoint["options"] != options:
            raise ValueError(f"无法续跑：选项与上次运行不同（上次 {checkpoint['options']}），请去掉 --resume 重新开始")
        layout = Layout.from_dict(checkpoint["layout"])
        summary = BatchSummary.from_state(checkpoint["summary"])
    else:
        # CSV output has one header for all rows: it must name every key any JSONL row carries.
        first = header_record(in_path, sheet) if out_format == "csv" else first_record(in_path, sheet)
        layout = Layout.build(first or {}, columns or Columns(),
                              kind="flat" if out_format in ("csv", "xlsx") else "full",
                              encoding="csv" if out_format == "csv" else "jsonl", max_text_chars=max_text_chars)
        summary = BatchSummary(has_labels=layout.labelled)

    spooled = out_format in ("xlsx", "parquet")
    files = OutputFiles(out_path, spooled=spooled, checkpoint=checkpoint)
    before = summary.seconds
    started = time.perf_counter()
    try:
        if checkpoint is None:
            files.write_header(LineEncoder(layout).header())
        progress.begin(count_rows(in_path), done=summary.total, errors=summary.errors)
        state = {"input": fingerprint(in_path), "options": options, "layout": layout.to_dict()}

        def save() -> None:
            summary.seconds = before + time.perf_counter() - started
            files.checkpoint(state | {"consumed": summary.total, "summary": summary.state()})

        last_saved = time.perf_counter()
        for chunk in _results(in_path, summary.total, layout, router, spec, engine=engine, chunk_size=chunk_size,
                              workers=workers, backend=backend, ray_address=ray_address, sheet=sheet):
            files.append(chunk)
            summary.add(chunk)
            if on_chunk:
                on_chunk(chunk)
            if time.perf_counter() - last_saved >= CHECKPOINT_EVERY_S:  # progress reports only durable rows
                save()
                last_saved = time.perf_counter()
                progress.update(summary.total, summary.errors, force=True)
        save()
        progress.update(summary.total, summary.errors, force=True)
        if spooled:
            progress.stage("writing")
            files.close()
            if out_format == "xlsx":
                convert.to_xlsx(files.target, out_path)
            else:
                convert.to_parquet(files.target, out_path, layout.names)
        files.finish()
    except BaseException:
        files.close()
        progress.stage("failed")
        raise
    summary.seconds = before + time.perf_counter() - started
    if summary_path is not None:
        write_json_atomic(summary_path, summary_report(summary, out_path))
    progress.stage("done")
    return summary


def summary_report(summary: BatchSummary, out_path: Path) -> dict[str, Any]:
    """The summary as printed by ``sqmy batch`` and written to ``--summary``."""
    from service.archive.output import errors_path

    return summary.to_dict() | {"output": str(out_path), "errors_file": str(errors_path(out_path))}


def _results(in_path: Path, skip: int, layout: Layout, router: Router | None, spec: PredictorSpec | None, *,
             engine: str, chunk_size: int, workers: int, backend: str, ray_address: str | None,
             sheet: str | None) -> Iterable[ChunkResult]:
    from service.archive.workers import run_inline, run_pool

    if backend == "ray":
        from service.archive.ray_backend import run_ray

        assert spec is not None, "the Ray backend loads the model from a PredictorSpec"
        return run_ray(in_path, skip=skip, sheet=sheet, chunk_size=chunk_size, layout=layout, spec=spec,
                       workers=workers, address=ray_address)
    chunks = chunked(iter_items(in_path, skip=skip, sheet=sheet), chunk_size)
    if workers > 1:
        assert spec is not None, "worker processes load the model from a PredictorSpec"
        return run_pool(chunks, layout, spec, workers)
    if router is not None:
        resolve = spec.unit_resolver() if spec is not None else None
        return run_inline(chunks, layout, Predictor(router, engine, resolve))
    assert spec is not None
    return run_inline(chunks, layout, spec.load())
