"""Adapt the student encoder to tell matters apart, for the similarity index (``sqmy base-encoder --matter``): two
views of each of a seeded sample of corpus items, batched by genre and topic (``models.bert_matter``), saved as
``<student>-matter``, which ``sqmy index --encoder`` installs with the pairwise model fitted for it
(``app/similar/pair_models/matter.json``)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson

from sqmy.core.config import Settings
from sqmy.core.labels import load_label_space
from sqmy.core.text import join_title
from sqmy.models.bert_matter import MatterArguments, tune_for_matters
from sqmy.training.data import LabeledItem, corpus_files, load_items
from sqmy.training.student import PREFIX, SENTENCE_END, STUDENT_INFO, short_view, student_info

MATTER_KIND = "matter"  # what ``student.json`` and the installed encoder's ``meaning.json`` call such an encoder
DEFAULT_MATTER_TEXTS: int | None = None  # every corpus item, one epoch (docs/BENCHMARKS.md: 4,000 gained less)
VIEWS = ("split", "title", "short")


def matter_dir(encoders_dir: Path, base: Path) -> Path:
    return encoders_dir / f"{base.name}-{MATTER_KIND}"


def two_views(title: str, text: str, rng: random.Random) -> tuple[str, str]:
    """A query-like view and an item view of one text, sharing its matter but not its words where possible: the
    title with the first sentences against the remaining ones, the title against the body, or a short request
    (``short_view``) against the whole item (chosen by ``rng``; the first two fall back to the last)."""
    title, text = title.strip(), text.strip()
    kind = rng.choice(VIEWS)
    sentences = [s for s in SENTENCE_END.split(text) if s.strip()]
    if kind == "split" and len(sentences) >= 2:
        cut = rng.randint(1, len(sentences) - 1)
        return join_title(title, "".join(sentences[:cut])), "".join(sentences[cut:])
    if kind == "title" and len(title) >= 4:
        return title, text
    return short_view(title, text, rng), join_title(title, text)


def matter_pairs(items: list[LabeledItem], limit: int | None, seed: int = 0,
                 prefix: str = PREFIX) -> tuple[list[tuple[str, str]], list[str]]:
    """Two views (``two_views``) of each of ``limit`` items (a seeded sample; all when None), with their group
    (genre and level-1 topic: texts that neither tells apart)."""
    rng = random.Random(seed)
    chosen = rng.sample(items, min(limit or len(items), len(items)))
    pairs, groups = [], []
    for item in chosen:
        query, view = two_views(item.title, item.text, rng)
        pairs.append((prefix + query, prefix + view))
        groups.append(f"{item.genre or ''}|{item.topic_l1 or ''}")
    return pairs, groups


def build_matter_encoder(settings: Settings, base: Path, out: Path, args: MatterArguments | None = None, *,
                         max_texts: int | None = DEFAULT_MATTER_TEXTS, log: Any = print) -> dict[str, Any]:
    """Adapt ``base`` (the student, or any encoder) on the corpus into ``out`` (checkpoints under
    ``$SQMY_HOME/student-checkpoints``: a killed run resumes there)."""
    args = args or MatterArguments()
    labels = load_label_space(settings.TAXONOMY_PATH, settings.DIRECTORY_PATH)
    items = load_items(corpus_files(settings.CORPUS_DIR), labels).items
    prefix = student_info(base).get("prefix", PREFIX)
    pairs, groups = matter_pairs(items, max_texts, args.seed, prefix)
    log(f"adapting {base} → {out}: {len(pairs)} corpus items in {len(set(groups))} groups of genre and topic")
    info = tune_for_matters(base, pairs, groups, out, args=args, checkpoint_dir=settings.HOME / "student-checkpoints",
                            log=log)
    info.update({"kind": MATTER_KIND, "prefix": prefix})
    (out / STUDENT_INFO).write_bytes(orjson.dumps(info, option=orjson.OPT_INDENT_2))
    return info
