"""Fixtures of the BERT engine's tests: a tiny random BERT checkpoint and the tiny corpus's items, once per module."""

from __future__ import annotations

import pytest

from sqmy.training.data import corpus_files, load_items
from tests.utils.tiny_bert import write_tiny_bert


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    return write_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="module")
def items(tiny_corpus_dir, labels):
    return load_items(corpus_files(tiny_corpus_dir), labels).items
