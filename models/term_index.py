"""Looking up a batch's TF-IDF terms with numpy instead of one Python dict lookup (and one new string) per term.

Each term becomes an integer key, and the vocabulary's keys go into an open-addressing hash table (linear probing,
at most a quarter full, Fibonacci hashing) once; a batch's keys are looked up with a few vectorised probing rounds.

- Character n-grams (n ≤ 3): the key is the code points plus one, 21 bits each (``ab`` → ``(ord(a)+1) << 21 |
  ord(b)+1``), so n-grams of different lengths never share a key. No string is built.
- jieba words: each token is looked up once in a dict (token → id; tokens the vocabulary does not know are
  remembered as kept or dropped), a unigram's column is an array index, a bigram is the key ``id_a · n + id_b + 1``.
  This replaces a dict lookup per unigram, an f-string and a dict lookup per bigram.

The matches are exactly those of ``sqmy.core.text.chars`` / ``words`` followed by a dict lookup (tests check it)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import cast

import numpy as np
import rjieba

from sqmy.core.text import keep_token

BITS = 21  # code points are below 0x110000 < 2**21
MAX_N = 3  # 3 × 21 bits fit in an unsigned 64-bit key
_SEPARATOR = (1 << BITS) - 1  # never a code point + 1: an n-gram that spans two texts matches no key
_EMPTY = np.uint64(0)  # no key is 0
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: the key's high product bits pick the slot
_UNKNOWN, _DROPPED = -1, -2  # word ids of tokens outside the vocabulary: kept by ``words`` / filtered out
_MEMO_LIMIT = 1_000_000  # unknown tokens remembered at most (a long-running service sees new ones forever)


class IntTable:
    """Non-zero uint64 keys → int32 values, looked up in bulk (``find``; -1 where absent)."""

    def __init__(self, keys: np.ndarray, values: np.ndarray) -> None:
        self.bits = max(4, int(4 * len(keys)).bit_length())
        self.keys = np.zeros(1 << self.bits, dtype=np.uint64)
        self.values = np.full(1 << self.bits, -1, dtype=np.int32)
        self.probes = self._insert(keys.astype(np.uint64), values.astype(np.int32))

    def _slots(self, keys: np.ndarray) -> np.ndarray:
        return ((keys * _MULTIPLIER) >> np.uint64(64 - self.bits)).astype(np.int64)

    def _insert(self, keys: np.ndarray, values: np.ndarray) -> int:
        """Place every key at its slot or the next free one; returns the longest probe sequence."""
        mask, slots, rounds = (1 << self.bits) - 1, self._slots(keys), 0
        while len(keys):
            rounds += 1
            free = self.keys[slots] == _EMPTY
            _, first = np.unique(slots[free], return_index=True)  # one key per free slot this round
            placed = np.flatnonzero(free)[first]
            self.keys[slots[placed]], self.values[slots[placed]] = keys[placed], values[placed]
            rest = np.ones(len(keys), dtype=bool)
            rest[placed] = False
            keys, values, slots = keys[rest], values[rest], (slots[rest] + 1) & mask
        return rounds

    def find(self, keys: np.ndarray) -> np.ndarray:
        mask = (1 << self.bits) - 1
        out = np.full(len(keys), -1, dtype=np.int32)
        active, slots = np.arange(len(keys)), self._slots(keys)
        for _ in range(self.probes):
            held = self.keys[slots]
            hit = held == keys[active]
            out[active[hit]] = self.values[slots[hit]]
            going = ~hit & (held != _EMPTY)  # an empty slot ends the probe: the key is absent
            active, slots = active[going], (slots[going] + 1) & mask
            if not len(active):
                break
        return out


def _rows(columns: np.ndarray, docs: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR ``(indices, indptr)`` of the found ``columns`` (-1: not found), grouped by their ``docs``."""
    found = columns >= 0
    columns, docs = columns[found], docs[found]
    order = np.argsort(docs, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(docs, minlength=n))]).astype(np.int64)
    return columns[order], indptr


def _code_points(texts: Sequence[str]) -> np.ndarray:
    """Code points + 1 of ``texts`` one after the other, each followed by a separator (uint64)."""
    joined = "\x00".join(texts) + "\x00"
    points = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64) + 1
    ends = np.cumsum([len(t) + 1 for t in texts]) - 1
    points[ends] = _SEPARATOR
    return points


def _gram_keys(points: np.ndarray, n: int) -> np.ndarray:
    """The key of the n-gram starting at every position (the last ``n - 1`` positions have none)."""
    keys = points[: len(points) - n + 1].copy()
    for k in range(1, n):
        keys <<= np.uint64(BITS)
        keys |= points[k: len(points) - n + 1 + k]
    return keys


class CharGramIndex:
    """A character n-gram vocabulary (term → column, every term 1–3 characters)."""

    def __init__(self, vocabulary: dict[str, int]) -> None:
        terms = list(vocabulary)
        lengths = np.fromiter(map(len, terms), dtype=np.int64, count=len(terms))
        if len(terms) and (lengths.min() < 1 or lengths.max() > MAX_N):
            raise ValueError(f"character n-grams of 1 to {MAX_N} characters expected")
        points = _code_points(terms)
        starts = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]]).astype(np.int64)
        keys = np.zeros(len(terms), dtype=np.uint64)
        for k in range(MAX_N):  # fold in the k-th character of the terms that have one
            has = lengths > k
            keys[has] = (keys[has] << np.uint64(BITS)) | points[starts[has] + k]
        self.table = IntTable(keys, np.fromiter(vocabulary.values(), dtype=np.int32, count=len(terms)))

    def lookup(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(indices, indptr)`` of the vocabulary's n-grams in each text, one entry per occurrence (CSR rows)."""
        if not texts:
            return np.zeros(0, dtype=np.int32), np.zeros(1, dtype=np.int64)
        points = _code_points(texts)
        doc = np.repeat(np.arange(len(texts)), [len(t) + 1 for t in texts])
        keys = np.concatenate([_gram_keys(points, k) for k in range(1, MAX_N + 1)])
        docs = np.concatenate([doc[: len(doc) - k + 1] for k in range(1, MAX_N + 1)])
        return _rows(self.table.find(keys), docs, len(texts))


class WordGramIndex:
    """A jieba word uni+bigram vocabulary (``words``' terms: a token, or two tokens joined by one space)."""

    def __init__(self, vocabulary: dict[str, int]) -> None:
        self.ids: dict[str, int] = {}
        unigrams: dict[int, int] = {}
        pairs: list[tuple[int, int, int]] = []
        for term, column in vocabulary.items():
            parts = term.split(" ")
            if len(parts) > 2 or "" in parts:
                raise ValueError(f"word term {term!r} is neither a token nor two tokens")
            ids = [self.ids.setdefault(part, len(self.ids)) for part in parts]
            if len(ids) == 1:
                unigrams[ids[0]] = column
            else:  # a bigram; a token with a space inside would be the same string: a unigram too
                pairs.append((ids[0], ids[1], column))
                unigrams.setdefault(self.ids.setdefault(term, len(self.ids)), column)
        self.n_tokens = len(self.ids)
        self.unigram = np.full(self.n_tokens + 1, -1, dtype=np.int32)  # the last entry: unknown tokens
        self.unigram[list(unigrams)] = list(unigrams.values())
        pair = np.array(pairs, dtype=np.int64).reshape(-1, 3)
        self.table = IntTable(self._pair_keys(pair[:, 0], pair[:, 1]), pair[:, 2])

    def _pair_keys(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a.astype(np.uint64) * np.uint64(self.n_tokens) + b.astype(np.uint64) + np.uint64(1)

    def _remember(self, token: str) -> int:
        """The id of a token the vocabulary does not know: kept (it breaks no bigram rule) or dropped by ``words``."""
        i = _UNKNOWN if keep_token(token) else _DROPPED
        if len(self.ids) < self.n_tokens + _MEMO_LIMIT:
            self.ids[token] = i
        return i

    def _token_ids(self, text: str) -> list[int]:
        """The id of every jieba token of ``text`` (``_DROPPED`` for those ``words`` filters out), then ``_UNKNOWN``
        to end the text."""
        tokens = rjieba.cut(text)
        found = list(map(self.ids.get, tokens))
        ids = found if None not in found else [self._remember(t) if i is None else i
                                               for t, i in zip(tokens, found, strict=True)]
        ids.append(_UNKNOWN)
        return cast(list[int], ids)  # no None left: each unknown token was remembered

    def lookup(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(indices, indptr)`` of the vocabulary's unigrams and bigrams in each text, one entry per occurrence."""
        per_text = [self._token_ids(text) for text in texts]
        ids = np.fromiter(itertools.chain.from_iterable(per_text), dtype=np.int64)
        doc = np.repeat(np.arange(len(texts)), [len(t) for t in per_text])
        kept = ids != _DROPPED  # bigrams join the tokens ``words`` keeps, across the dropped ones
        ids, doc = ids[kept], doc[kept]
        ids[ids < 0] = self.n_tokens  # unknown: no unigram column, and no pair key is looked up for it
        a, b = ids[:-1], ids[1:]
        both = (a < self.n_tokens) & (b < self.n_tokens)
        pairs = np.full(len(a), -1, dtype=np.int32)
        pairs[both] = self.table.find(self._pair_keys(a[both], b[both]))
        columns = np.concatenate([self.unigram[ids], pairs])
        return _rows(columns, np.concatenate([doc, doc[:-1]]), len(texts))
