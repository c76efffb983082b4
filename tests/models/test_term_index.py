"""The numpy term lookup finds exactly the terms that ``words`` / ``chars`` and a dict lookup find."""

import numpy as np
import pytest

from sqmy.core.text import chars, join_title, words
from sqmy.models.features import BULK, TextFeatures, _lookup
from sqmy.models.term_index import CharGramIndex, WordGramIndex
from tests.utils.tiny_corpus import ITEMS

ODD = ["", "a", "\x00\x00x", "的的的的", "，，。", "hello world 123 hello world", "𠀀𠀁字 emoji 🙂🙂", "A b  C"]


@pytest.fixture(scope="module")
def features():
    texts = [join_title(title, text) for title, text, *_ in ITEMS]
    fitted = TextFeatures(min_df=1)
    fitted.fit_transform(texts)
    return fitted, texts + ODD


def same_rows(got, expected):
    (ind, ptr), (ind2, ptr2) = got, expected
    assert np.array_equal(ptr, ptr2)
    for i in range(len(ptr) - 1):
        assert sorted(ind[ptr[i]:ptr[i + 1]].tolist()) == sorted(ind2[ptr2[i]:ptr2[i + 1]].tolist())


def test_char_index_matches_the_dict_lookup(features):
    fitted, texts = features
    vocabulary = fitted.vocabularies_[1]
    same_rows(CharGramIndex(vocabulary).lookup(texts), _lookup(chars, vocabulary, texts))


def test_word_index_matches_the_dict_lookup(features):
    fitted, texts = features
    vocabulary = fitted.vocabularies_[0]
    index = WordGramIndex(vocabulary)
    same_rows(index.lookup(texts), _lookup(words, vocabulary, texts))
    same_rows(index.lookup(texts), _lookup(words, vocabulary, texts))  # again, with the unknown tokens remembered


def test_bulk_and_one_by_one_transforms_are_the_same_matrix(features):
    fitted, texts = features
    assert len(texts) >= BULK
    bulk = fitted.transform(texts)
    one_by_one = [fitted.transform([t]) for t in texts]
    np.testing.assert_array_equal(bulk.toarray(), np.vstack([x.toarray() for x in one_by_one]))


def test_a_word_vocabulary_it_cannot_represent_is_refused():
    with pytest.raises(ValueError, match="two tokens"):
        WordGramIndex({"a b c": 0})
