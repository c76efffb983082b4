"""The numpy term lookup finds exactly the terms that ``words`` / ``chars`` and a dict lookup find."""

import numpy as np
import pytest

from sqmy.core.text import chars, join_title, words
from sqmy.models.features import BULK, TextFeatures, _lookup
from sqmy.models.sparse_rows import SCIPY_FROM_ROWS
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


def test_scores_of_one_item_are_the_scores_it_gets_in_a_batch(features):
    """One item is scored in numpy, a batch through scipy's CSC kernel: the same sums, bit for bit, so an item's
    confidence does not depend on how it was sent."""
    fitted, texts = features
    weights = np.random.default_rng(0).standard_normal((fitted.n_features, 7)).astype(np.float32)
    batch = fitted.transform(texts)
    assert batch.shape[0] >= SCIPY_FROM_ROWS
    in_batch = batch @ weights
    alone = np.vstack([fitted.transform([t]) @ weights for t in texts])
    np.testing.assert_array_equal(alone, in_batch)
    np.testing.assert_array_equal(in_batch, np.asarray(batch.tocsc() @ weights))


def test_a_few_rows_give_the_same_sums_with_or_without_scipy(features):
    """A few rows go through scipy's CSR kernel where scipy is loaded (the service), through numpy where it is not
    (`sqmy classify`): the same scores either way, and the same as in a large batch."""
    fitted, texts = features
    weights = np.random.default_rng(1).standard_normal((fitted.n_features, 9)).astype(np.float32)
    few = fitted.transform(texts[:5])
    assert few.shape[0] < SCIPY_FROM_ROWS and few.nnz
    np.testing.assert_array_equal(few @ weights, few.numpy_product(weights))
    np.testing.assert_array_equal(few @ weights, (fitted.transform(texts) @ weights)[:5])


def test_the_rows_are_scipy_s_matrix(features):
    fitted, texts = features
    x = fitted.transform(texts)
    reference = x.tocsr().copy()
    reference.sort_indices()
    assert reference.has_canonical_format
    np.testing.assert_array_equal(x.indices, reference.indices)
    np.testing.assert_array_equal(x.indptr, reference.indptr)
    np.testing.assert_array_equal(x.data, reference.data)


def test_the_tfidf_path_imports_no_scipy_for_one_item():
    """`sqmy classify` should not pay for scipy's import (a quarter of a second of CPU)."""
    import subprocess
    import sys

    code = ("import sys\nfrom sqmy.models.features import TextFeatures\nf = TextFeatures(min_df=1)\n"
            "f.vocabularies_ = [{'路灯': 0}, {'路': 0, '灯': 1}]\nimport numpy as np\n"
            "f.idfs_ = [np.ones(1, np.float32), np.ones(2, np.float32)]\n"
            "x = f.transform(['路灯坏了'])\nprint((x @ np.ones((3, 2), np.float32)).tolist(), "
            "'scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False"), out
