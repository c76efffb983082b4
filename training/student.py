"""Distil a smaller student of the default base encoder on the corpus's training texts (never its evaluation
split), as a base encoder for BERT training (``SQMY_BERT_BASE``): ``sqmy base-encoder --student``."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson

from sqmy.core.config import Settings
from sqmy.core.labels import load_label_space
from sqmy.models.bert_student import StudentArguments, distil
from sqmy.training.data import build_training_set
from sqmy.training.train import DEFAULT_EVAL_FRACTION, split_items

STUDENT_INFO = "student.json"
PREFIX = "passage: "
DEFAULT_STUDENT_TEXTS = 6000  # the recipe measured in docs/BENCHMARKS.md: 6,000 corpus texts, 2 epochs


def student_dir(encoders_dir: Path, teacher: Path, args: StudentArguments) -> Path:
    """Where the student of ``teacher`` with ``args``'s shape is kept: ``<teacher>-s<layers>-<tokens>``."""
    return encoders_dir / f"{teacher.name}-s{len(args.layers)}-{args.max_length}"


def student_texts(settings: Settings, limit: int | None = None, seed: int = 0) -> list[str]:
    """The corpus's training texts as the BERT engine feeds them (``passage: `` + title + text), in a seeded random
    order; with ``limit``, the first ``limit`` of them."""
    labels = load_label_space(settings.TAXONOMY_PATH, settings.DIRECTORY_PATH)
    items = build_training_set(settings.CORPUS_DIR, [], labels).items
    train, _held_out = split_items(items, DEFAULT_EVAL_FRACTION)
    train = random.Random(seed).sample(train, len(train))[:limit]  # any limit: a prefix of the same order
    return [f"{PREFIX}{i.title.strip()}。{i.text.strip()}" if i.title.strip() else f"{PREFIX}{i.text}"
            for i in train]


def student_info(encoder: Path) -> dict[str, Any]:
    """What ``build_student`` recorded about a student encoder (its token budget, its text prefix); ``{}`` for any
    other checkpoint."""
    file = encoder / STUDENT_INFO
    return orjson.loads(file.read_bytes()) if file.is_file() else {}


def build_student(settings: Settings, teacher: Path, out: Path, args: StudentArguments, *,
                  max_texts: int | None = None, log: Any = print) -> dict[str, Any]:
    """Distil ``teacher`` into ``out`` (checkpoints under ``$SQMY_HOME/student-checkpoints``: a killed run resumes
    there); ``max_texts`` bounds the training texts (a seeded sample) and so the CPU time."""
    texts = student_texts(settings, max_texts, args.seed)
    log(f"distilling {teacher} → {out}: {len(args.layers)} layers, {args.max_length} tokens, {len(texts)} texts")
    info = distil(teacher, texts, out, args=args, checkpoint_dir=settings.HOME / "student-checkpoints", log=log)
    info["prefix"] = PREFIX  # what BERT training on this student puts before each text (``bert_params``)
    (out / STUDENT_INFO).write_bytes(orjson.dumps(info, option=orjson.OPT_INDENT_2))
    return info
