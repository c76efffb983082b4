"""Reclassify a whole archive: read in chunks, classify (here, in worker processes or on Ray), write in input order,
checkpoint, and summarise."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqmy.app.archive import convert
from sqmy.app.archive.limits import ArchiveLimits, check_archive, limit_rows
from sqmy.app.archive.output import OutputFiles, fingerprint, load_checkpoint
from sqmy.app.archive.predictor import Predictor, PredictorSpec
from sqmy.app.archive.readers import archive_format, chunked, first_record, header_record, iter_items
from sqmy.app.archive.rows import COLUMN_ALIASES, ChunkResult, Columns, Layout, LineEncoder
from sqmy.app.archive.summary import BatchSummary
from sqmy.app.policy import RoutingPolicy
from sqmy.core.config import default
from sqmy.core.progress import Progress, write_json_atomic

CHECKPOINT_EVERY_S = 0.5
BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class BatchOptions:
    """How to run one archive batch (the options of ``sqmy batch``)."""

    engine: str = "auto"
    columns: Columns = field(default_factory=Columns)
    chunk_size: int = 256
    max_text_chars: int = default("MAX_TEXT_CHARS")
    workers: int = 1
    backend: str = "local"
    ray_address: str | None = None
    resume: bool = False
    summary_path: Path | None = None
    sheet: str | None = None
    limits: ArchiveLimits = field(default_factory=ArchiveLimits)
    zh_headers: bool = False  # CSV/XLSX for people: Chinese column names, 是/否, CSV with a BOM (Excel)

    def fingerprint(self, out_format: str) -> dict[str, Any]:
        """What a resumed run must share with the run it continues."""
        return {"engine": self.engine, "output_format": out_format, "sheet": self.sheet} | (
            {"zh": True} if self.zh_headers else {})


def run_batch(in_path: Path, out_path: Path, spec: PredictorSpec, options: BatchOptions = BatchOptions(), *,
              predictor: Predictor | None = None, progress: Progress | None = None,
              on_chunk: Callable[[ChunkResult], None] | None = None) -> BatchSummary:
    """Route every row of ``in_path`` into ``out_path`` (formats from the suffixes); unreadable or unroutable rows
    go to ``OUT.errors.jsonl``.

    One local worker uses ``predictor`` when given (a model already loaded) or loads ``spec``'s; worker processes
    and Ray actors load ``spec``'s. With ``options.resume`` a run killed earlier continues from its checkpoint.
    ``ValueError`` (in Chinese) for an unusable input, output or checkpoint.
    """
    in_path, out_path = Path(in_path), Path(out_path)
    if options.backend not in BACKENDS:
        raise ValueError(f"未知的后端 {options.backend!r}（可选：{'、'.join(BACKENDS)}）")
    archive_format(in_path)
    out_format = archive_format(out_path)
    if out_path.resolve() == in_path.resolve():
        raise ValueError("输出文件不能与输入文件相同")
    rows = check_archive(in_path, options.limits)  # before anything reads the rows
    progress = progress or Progress()
    checkpoint = load_checkpoint(out_path) if options.resume else None
    layout, summary = _start(in_path, out_format, options, checkpoint, spec.policy)
    files = OutputFiles(out_path, spooled=out_format in ("xlsx", "parquet"), checkpoint=checkpoint)
    before, started = summary.seconds, time.perf_counter()
    try:
        if checkpoint is None:
            files.write_header(LineEncoder(layout).header())
        progress.begin(rows, done=summary.total, errors=summary.errors)
        state = {"input": fingerprint(in_path), "options": options.fingerprint(out_format),
                 "layout": layout.to_dict()}

        def save() -> None:
            summary.seconds = before + time.perf_counter() - started
            files.checkpoint(state | {"consumed": summary.total, "summary": summary.state()})

        chunks = _results(in_path, summary.total, layout, spec, options, predictor)
        _consume(chunks, files, summary, progress, save, on_chunk)
        if summary.total and not summary.classified:
            raise ValueError(nothing_read(summary, layout))
        _finish(files, out_path, out_format, layout, progress)
    except BaseException:
        files.close()
        progress.stage("failed")
        raise
    summary.seconds = before + time.perf_counter() - started
    if options.summary_path is not None:
        write_json_atomic(options.summary_path, summary_report(summary, out_path))
    progress.stage("done")
    return summary


def nothing_read(summary: BatchSummary, layout: Layout) -> str:
    """Why a run in which no row could be classified fails (a run with no result is not a success)."""
    if layout.columns.text is None:
        known = "、".join(COLUMN_ALIASES["text"])
        return (f"没有一行能够分类：找不到正文列（可自动识别的列名：{known}）。"
                "请在“正文列”中填写文件里正文所在的列名（命令行：--text-col）")
    return f"没有一行能够分类：共 {summary.total} 行均无法分类，例如：{summary.first_error}"


def _start(in_path: Path, out_format: str, options: BatchOptions, checkpoint: dict[str, Any] | None,
           policy: RoutingPolicy) -> tuple[Layout, BatchSummary]:
    """The output layout and the summary so far: fresh, or from the checkpoint of the run being resumed."""
    if checkpoint is not None:
        if checkpoint["input"] != fingerprint(in_path):
            raise ValueError(f"无法续跑：输入文件 {in_path} 与上次运行时不同，请去掉 --resume 重新开始")
        if checkpoint["options"] != options.fingerprint(out_format):
            raise ValueError(f"无法续跑：选项与上次运行不同（上次 {checkpoint['options']}），请去掉 --resume 重新开始")
        return Layout.from_dict(checkpoint["layout"]), BatchSummary.from_state(checkpoint["summary"])
    # CSV output has one header for all rows: it must name every key any JSONL row carries.
    first = header_record(in_path, options.sheet) if out_format == "csv" else first_record(in_path, options.sheet)
    layout = Layout.build(first or {}, options.columns, kind="flat" if out_format in ("csv", "xlsx") else "full",
                          encoding="csv" if out_format == "csv" else "jsonl", max_text_chars=options.max_text_chars,
                          zh=options.zh_headers, facts=policy.facts, mask_pii=policy.mask_pii)
    return layout, BatchSummary(has_labels=layout.labelled)


def _consume(chunks: Iterable[ChunkResult], files: OutputFiles, summary: BatchSummary, progress: Progress,
             save: Callable[[], None], on_chunk: Callable[[ChunkResult], None] | None) -> None:
    """Append results in input order, checkpointing every ``CHECKPOINT_EVERY_S``; progress reports durable rows."""
    last_saved = time.perf_counter()
    for chunk in chunks:
        files.append(chunk)
        summary.add(chunk)
        if on_chunk:
            on_chunk(chunk)
        if time.perf_counter() - last_saved >= CHECKPOINT_EVERY_S:
            save()
            last_saved = time.perf_counter()
            progress.update(summary.total, summary.errors, force=True)
    save()
    progress.update(summary.total, summary.errors, force=True)


def _finish(files: OutputFiles, out_path: Path, out_format: str, layout: Layout, progress: Progress) -> None:
    """Convert spooled output (XLSX, Parquet) and move the result into place."""
    if out_format in ("xlsx", "parquet"):
        progress.stage("writing")
        files.close()
        if out_format == "xlsx":
            convert.to_xlsx(files.target, out_path)
        else:
            convert.to_parquet(files.target, out_path, layout.names)
    files.finish()


def summary_report(summary: BatchSummary, out_path: Path) -> dict[str, Any]:
    """The summary as printed by ``sqmy batch`` and written to ``--summary``."""
    from sqmy.app.archive.output import errors_path

    return summary.to_dict() | {"output": str(out_path), "errors_file": str(errors_path(out_path))}


def _results(in_path: Path, skip: int, layout: Layout, spec: PredictorSpec, options: BatchOptions,
             predictor: Predictor | None) -> Iterable[ChunkResult]:
    from sqmy.app.archive.workers import run_inline, run_pool

    if options.backend == "ray":
        from sqmy.app.archive.ray_backend import run_ray

        return run_ray(in_path, skip=skip, sheet=options.sheet, chunk_size=options.chunk_size, layout=layout,
                       spec=spec, workers=options.workers, address=options.ray_address)
    items = limit_rows(iter_items(in_path, skip=skip, sheet=options.sheet), options.limits, skip)
    chunks = chunked(items, options.chunk_size)
    if options.workers > 1:
        return run_pool(chunks, layout, spec, options.workers)
    return run_inline(chunks, layout, predictor or spec.load())
