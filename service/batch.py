"""Batch reclassification of files; the implementation lives in :mod:`service.archive`."""

from service.archive import (
    BatchSummary,
    Columns,
    PredictorSpec,
    Progress,
    checkpoint_path,
    errors_path,
    format_table,
    run_batch,
    summary_report,
)
from service.archive.rows import COLUMN_ALIASES, RESULT_FIELDS

__all__ = ["COLUMN_ALIASES", "RESULT_FIELDS", "BatchSummary", "Columns", "PredictorSpec", "Progress",
           "checkpoint_path", "errors_path", "format_table", "run_batch", "summary_report"]
