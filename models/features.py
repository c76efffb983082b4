"""TF-IDF features: fitted with scikit-learn's TfidfVectorizer, applied by a faster transform.

scikit-learn's transform counts tokens with per-token Python dict updates; here token ids are looked up
with ``map(vocabulary.get, …)`` and counted by scipy in C, which is ~2x faster and gives identical matrices
(a test checks parity)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from sqmy.core.text import chars, words


class TextFeatures:
    """Word (jieba uni+bigrams) and character (1–3-gram) TF-IDF blocks, each L2-normalised, side by side."""

    def __init__(self, *, min_df: int = 2, max_features: int | None = 60_000) -> None:
        self.min_df = min_df
        self.max_features = max_features

    def _vectorizers(self) -> list[TfidfVectorizer]:
        return [TfidfVectorizer(analyzer=analyzer, sublinear_tf=True, min_df=self.min_df,
                                max_features=self.max_features, dtype=np.float32) for analyzer in (words, chars)]

    def fit_transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        self.vectorizers_ = self._vectorizers()
        # fall back to min_df=1 on tiny corpora where min_df would leave no vocabulary
        blocks = []
        for vec in self.vectorizers_:
            try:
                blocks.append(vec.fit_transform(texts))
            except ValueError:
                vec.set_params(min_df=1)
                blocks.append(vec.fit_transform(texts))
        return sp.hstack(blocks, format="csr", dtype=np.float32)

    @property
    def n_features(self) -> int:
        return sum(len(v.vocabulary_) for v in self.vectorizers_)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        return sp.hstack([_transform(v, texts) for v in self.vectorizers_], format="csr", dtype=np.float32)


def _transform(vec: TfidfVectorizer, texts: Sequence[str]) -> sp.csr_matrix:
    get, analyzer = vec.vocabulary_.get, vec.analyzer
    indices: list[int] = []
    indptr = [0]
    for text in texts:
        indices.extend([i for i in map(get, analyzer(text)) if i is not None])
        indptr.append(len(indices))
    x = sp.csr_matrix((np.ones(len(indices), dtype=np.float32), np.asarray(indices, dtype=np.int32),
                       np.asarray(indptr, dtype=np.int64)), shape=(len(texts), len(vec.vocabulary_)))
    x.sum_duplicates()
    np.log(x.data, out=x.data)
    x.data += 1
    x.data *= vec.idf_[x.indices].astype(np.float32)
    return normalize(x, copy=False)
