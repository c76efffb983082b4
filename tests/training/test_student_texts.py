"""What the student is distilled on: the corpus's training texts, and short requests cut from them."""

from __future__ import annotations

from sqmy.core.config import Settings
from sqmy.training.data import build_training_set
from sqmy.training.student import PREFIX, student_texts
from sqmy.training.train import DEFAULT_EVAL_FRACTION, split_items


def test_short_views_are_one_line_requests_cut_from_training_items_only(tiny_corpus_dir, labels, tmp_path):
    settings = Settings(HOME=tmp_path, CORPUS_DIR=tiny_corpus_dir)
    full = student_texts(settings, 10)
    texts = student_texts(settings, 10, short_views=30)
    assert texts[:10] == full  # the full texts first, as without short views
    short = [t.removeprefix(PREFIX) for t in texts[10:]]
    assert len(short) == 30 and all(t.strip() for t in short)
    train, _held_out = split_items(build_training_set(tiny_corpus_dir, [], labels).items, DEFAULT_EVAL_FRACTION)
    assert all(any(s in i.title or s in i.text for i in train) for s in short)  # never the evaluation split's
    assert max(len(s) for s in short) <= 120
    assert sum(map(len, short)) / len(short) < sum(map(len, full)) / len(full) / 2
