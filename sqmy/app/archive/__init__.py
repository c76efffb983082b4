"""Reclassify whole archives (JSONL, CSV, XLSX, Parquet): streaming, resumable, on worker processes or Ray."""

from sqmy.app.archive.output import checkpoint_path, errors_path
from sqmy.app.archive.predictor import Predictor, PredictorSpec
from sqmy.app.archive.rows import Columns
from sqmy.app.archive.run import BatchOptions, run_batch, summary_report
from sqmy.app.archive.summary import BatchSummary, format_table

__all__ = ["BatchOptions", "BatchSummary", "Columns", "Predictor", "PredictorSpec", "checkpoint_path", "errors_path",
           "format_table", "run_batch", "summary_report"]
