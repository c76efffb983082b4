"""Text normalisation and tokenisation for Chinese opinion items."""

from __future__ import annotations

import itertools
import re
import unicodedata

import rjieba

_SPACE = re.compile(r"\s+")
_KEEP_TOKEN = re.compile(r"[\w\u4e00-\u9fff]")


def normalize(text: str) -> str:
    """NFKC (full-width → half-width), lower case, collapse whitespace."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip().lower()


def join_title(title: str, text: str) -> str:
    """Title first (it is the densest summary), then the body; one normalised string."""
    title, text = normalize(title or ""), normalize(text or "")
    if title and not text.startswith(title):
        return f"{title}。{text}"
    return text or title


def words(text: str) -> list[str]:
    """jieba word unigrams and bigrams (jieba-rs via rjieba: same dictionary, ~10x faster)."""
    tokens = [t for t in rjieba.cut(text) if _KEEP_TOKEN.search(t)]
    return tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]


def chars(text: str) -> list[str]:
    """Character 1-, 2- and 3-grams (Chinese has no spaces; character n-grams are robust to typos)."""
    grams = list(text)
    grams += [text[i:i + 2] for i in range(len(text) - 1)]
    grams += [text[i:i + 3] for i in range(len(text) - 2)]
    return grams
