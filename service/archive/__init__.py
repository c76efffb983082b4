"""Reclassify whole archives (JSONL, CSV, XLSX, Parquet): streaming, resumable, on worker processes or Ray."""

from service.archive.output import checkpoint_path, errors_path
from service.archive.predictor import Predictor, PredictorSpec
from service.archive.progress import Progress
from service.archive.rows import Columns
from service.archive.run import run_batch, summary_report
from service.archive.summary import BatchSummary, format_table

__all__ = ["BatchSummary", "Columns", "Predictor", "PredictorSpec", "Progress", "checkpoint_path", "errors_path",
           "format_table", "run_batch", "summary_report"]
