"""Text normalisation and tokenisation for Chinese opinion items.

Each step has an offset-aware form (``normalize_with_offsets``, ``join_title_with_offsets``, ``token_spans``,
``word_spans``, ``char_spans``) for the explanations; the plain functions the TF-IDF features are trained with
are defined through them, so the two cannot drift apart. Offsets are ``[start, end)`` code-point indices.
"""

from __future__ import annotations

import itertools
import re
import unicodedata

import rjieba

_SPACE = re.compile(r"\s+")
_KEEP_TOKEN = re.compile(r"[\w\u4e00-\u9fff]")
TITLE_SEPARATOR = "。"
CHAR_NGRAMS = (1, 2, 3)

Span = tuple[int, int]  # [start, end) in the source string
FieldSpan = tuple[str, int, int]  # ("title" | "text", start, end); ("", 0, 0) for the title separator


def _nfkc(s: str) -> str:
    return unicodedata.normalize("NFKC", s)


def _nfkc_segments(text: str, whole: str) -> list[Span]:
    """Split ``text`` into pieces whose NFKC forms concatenate to ``whole`` (the NFKC of ``text``).

    Usually every character normalises on its own; a character that composes or reorders with the piece before it
    (combining marks, Hangul jamo) joins that piece. When even that does not reproduce ``whole``, one piece."""
    if "".join(_nfkc(ch) for ch in text) == whole:
        return [(i, i + 1) for i in range(len(text))]
    pieces: list[Span] = []
    for i, ch in enumerate(text):
        if pieces:
            start = pieces[-1][0]
            if _nfkc(text[start:i + 1]) != _nfkc(text[start:i]) + _nfkc(ch):
                pieces[-1] = (start, i + 1)
                continue
        pieces.append((i, i + 1))
    if "".join(_nfkc(text[s:e]) for s, e in pieces) != whole:
        return [(0, len(text))] if text else []
    return pieces


def _nfkc_with_offsets(text: str) -> tuple[str, list[Span]]:
    """NFKC of ``text`` and, per output character, the input span it came from."""
    whole = _nfkc(text)
    if whole == text:
        return whole, [(i, i + 1) for i in range(len(text))]
    spans: list[Span] = []
    for s, e in _nfkc_segments(text, whole):
        piece = _nfkc(text[s:e])
        if e - s > 1 and "".join(_nfkc(ch) for ch in text[s:e]) == piece:
            spans += [(i, i + 1) for i in range(s, e) for _ in _nfkc(text[i])]
        else:
            spans += [(s, e)] * len(piece)
    return whole, spans


def _normalize(text: str, track: bool) -> tuple[str, list[Span]]:
    """The normalisation pipeline; the offsets are only computed (else left empty) when ``track``."""
    folded, spans = _nfkc_with_offsets(text) if track else (_nfkc(text), [])
    collapsed = _SPACE.sub(" ", folded)
    if track and len(collapsed) != len(folded):
        kept, pos = [], 0
        for m in _SPACE.finditer(folded):
            kept += spans[pos:m.start() + 1]  # the text before the run and the run's first character
            pos = m.end()
        spans = kept + spans[pos:]
    stripped = collapsed.strip()
    if track:
        lead = len(collapsed) - len(collapsed.lstrip())
        spans = spans[lead:lead + len(stripped)]
    lowered = stripped.lower()
    if track and len(lowered) != len(stripped):
        spans = [span for ch, span in zip(stripped, spans, strict=True) for _ in ch.lower()]
    return lowered, spans


def normalize_with_offsets(text: str) -> tuple[str, list[Span]]:
    """``normalize(text)`` and, per normalised character, the span of ``text`` it came from.

    A collapsed whitespace run maps to its first whitespace character; a character that NFKC or lower casing
    expands (``ﬁ`` → ``fi``, ``İ`` → ``i̇``) maps every output character to the same input span."""
    return _normalize(text, track=True)


def normalize(text: str) -> str:
    """NFKC (full-width → half-width), lower case, collapse whitespace (``normalize_with_offsets``'s text, without
    the cost of tracking offsets: the TF-IDF features call this for every document)."""
    return _normalize(text, track=False)[0]


def _join(title: str, text: str, track: bool) -> tuple[str, list[FieldSpan]]:
    """Title, separator, text, unless the text already starts with the title; offsets only when ``track``."""
    title, title_spans = _normalize(title or "", track)
    text, text_spans = _normalize(text or "", track)
    title_where = [("title", s, e) for s, e in title_spans]
    text_where = [("text", s, e) for s, e in text_spans]
    if title and not text.startswith(title):
        return f"{title}{TITLE_SEPARATOR}{text}", [*title_where, ("", 0, 0), *text_where]
    return (text, text_where) if text else (title, title_where)


def join_title_with_offsets(title: str, text: str) -> tuple[str, list[FieldSpan]]:
    """``join_title(title, text)`` and, per character, the field and span of the caller's string it came from."""
    return _join(title, text, track=True)


def join_title(title: str, text: str) -> str:
    """Title first (it is the densest summary), then the body; one normalised string."""
    return _join(title, text, track=False)[0]


def token_spans(text: str) -> list[tuple[str, int, int]]:
    """The jieba tokens ``words`` keeps (those with a word character), with their offsets in ``text``
    (``rjieba.cut`` keeps every character, so the offsets are cumulative token lengths)."""
    cut = rjieba.cut(text)
    starts = itertools.accumulate(map(len, cut), initial=0)  # one more than the tokens: the end of the text
    return [(token, s, s + len(token)) for token, s in zip(cut, starts, strict=False) if _KEEP_TOKEN.search(token)]


def keep_token(token: str) -> bool:
    """Whether ``words`` keeps a jieba token: it holds a word character (punctuation and spaces are dropped)."""
    return _KEEP_TOKEN.search(token) is not None


def words(text: str) -> list[str]:
    """jieba word unigrams and bigrams (jieba-rs via rjieba: same dictionary, ~10x faster)."""
    tokens = list(filter(_KEEP_TOKEN.search, rjieba.cut(text)))
    return tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]


def word_spans(text: str) -> list[tuple[str, int, int]]:
    """``words(text)`` with offsets: a unigram's own, a bigram's from its first token's start to its second's end."""
    tokens = token_spans(text)
    spans = [(s, e) for _token, s, e in tokens] + [(a[1], b[2]) for a, b in itertools.pairwise(tokens)]
    return [(gram, s, e) for gram, (s, e) in zip(words(text), spans, strict=True)]


def chars(text: str) -> list[str]:
    """Character 1-, 2- and 3-grams (Chinese has no spaces; character n-grams are robust to typos)."""
    grams: list[str] = []
    for n in CHAR_NGRAMS:  # list(text) for the 1-grams: this runs for every document
        grams += list(text) if n == 1 else [text[i:i + n] for i in range(len(text) - n + 1)]
    return grams


def char_spans(text: str) -> list[Span]:
    """The offsets of ``chars(text)``, in the same order: every 1-gram, then every 2-gram, … left to right."""
    return [(i, i + n) for n in CHAR_NGRAMS for i in range(len(text) - n + 1)]
