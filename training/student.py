"""Distil a smaller student of the default base encoder on the corpus's training texts (never its evaluation
split), as a base encoder for BERT training (``SQMY_BERT_BASE``): ``sqmy base-encoder --student``."""

from __future__ import annotations

import random
import re
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
DEFAULT_SHORT_VIEWS = 6000  # the default student's second pass: one epoch on those texts and 6,000 short requests


def student_dir(encoders_dir: Path, teacher: Path, args: StudentArguments) -> Path:
    """Where the student of ``teacher`` with ``args``'s shape is kept: ``<teacher>-s<layers>-<tokens>``."""
    return encoders_dir / f"{teacher.name}-s{len(args.layers)}-{args.max_length}"


SENTENCE_END = re.compile(r"(?<=[。！？!?；;\n])")
_CLAUSE_END = re.compile(r"(?<=[，,。！？!?；;、])")


def short_view(title: str, text: str, rng: random.Random) -> str:
    """A short request cut from a corpus item, as users type one-line requests: its title alone, its first
    sentence, or its first 15–60 characters ended at a clause where one ends in that span (chosen by ``rng``)."""
    title, text = title.strip(), text.strip()
    first = next((s.strip() for s in SENTENCE_END.split(text) if len(s.strip()) >= 6), text)
    choices = [first[:120]]
    if len(title) >= 4:
        choices.append(title)
    size = rng.randint(15, 60)
    if len(text) > size:
        clauses = [m.end() for m in _CLAUSE_END.finditer(text[:size + 1]) if m.end() >= 10]
        choices.append(text[:clauses[-1] if clauses else size])
    return rng.choice(choices)


def student_texts(settings: Settings, limit: int | None = None, seed: int = 0, short_views: int = 0) -> list[str]:
    """The corpus's training texts as the BERT engine feeds them (``passage: `` + title + text), in a seeded random
    order; with ``limit``, the first ``limit`` of them; then ``short_views`` short requests cut from the training
    items (``short_view``, one per item, items in another seeded order: they may come from beyond ``limit``)."""
    labels = load_label_space(settings.TAXONOMY_PATH, settings.DIRECTORY_PATH)
    items = build_training_set(settings.CORPUS_DIR, [], labels).items
    train, _held_out = split_items(items, DEFAULT_EVAL_FRACTION)
    order = random.Random(seed).sample(train, len(train))
    texts = [f"{PREFIX}{i.title.strip()}。{i.text.strip()}" if i.title.strip() else f"{PREFIX}{i.text}"
             for i in order[:limit]]  # any limit: a prefix of the same order
    rng = random.Random(seed + 1)
    short = rng.sample(train, min(short_views, len(train)))
    return texts + [f"{PREFIX}{short_view(i.title, i.text, rng)}" for i in short]


def student_info(encoder: Path) -> dict[str, Any]:
    """What ``build_student`` recorded about a student encoder (its token budget, its text prefix); ``{}`` for any
    other checkpoint."""
    file = encoder / STUDENT_INFO
    return orjson.loads(file.read_bytes()) if file.is_file() else {}


def build_student(settings: Settings, teacher: Path, out: Path, args: StudentArguments, *,
                  max_texts: int | None = None, short_views: int = 0, log: Any = print) -> dict[str, Any]:
    """Distil ``teacher`` into ``out`` (checkpoints under ``$SQMY_HOME/student-checkpoints``: a killed run resumes
    there); ``max_texts`` bounds the training texts (a seeded sample) and so the CPU time; ``short_views`` adds as
    many short requests cut from the training items (``short_view``)."""
    texts = student_texts(settings, max_texts, args.seed, short_views)
    log(f"distilling {teacher} → {out}: {len(args.layers)} layers, {args.max_length} tokens, {len(texts)} texts")
    info = distil(teacher, texts, out, args=args, checkpoint_dir=settings.HOME / "student-checkpoints", log=log)
    info["short_views"] = short_views
    info["prefix"] = PREFIX  # what BERT training on this student puts before each text (``bert_params``)
    (out / STUDENT_INFO).write_bytes(orjson.dumps(info, option=orjson.OPT_INDENT_2))
    return info
