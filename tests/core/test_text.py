"""The text pipeline and its offset-aware variants: same strings, and every character traced back to its source."""

from __future__ import annotations

import unicodedata

import pytest

from sqmy.core.text import (
    char_spans,
    chars,
    join_title,
    join_title_with_offsets,
    normalize,
    normalize_with_offsets,
    token_spans,
    word_spans,
    words,
)

TRICKY = [
    "",
    "   ",
    "  小区路灯坏了  ",
    "Ｈｅｌｌｏ　世界，１２３",  # full-width letters, digits, space and comma
    "第一行\n\n  第二行\t结束\r\n",  # mixed whitespace runs
    "\u00a0\u3000前后空白\u2003",  # no-break, ideographic and em spaces
    "ﬁﬃ ligatures ①号楼 ㈱ ㌔",  # NFKC expands one character into several
    "ΟΔΟΣ ΣΑΣ İstanbul ß ẞ",  # final sigma, dotted capital I (lower case expands), sharp s
    "cafe\u0301 e\u0323\u0301 ¨",  # combining marks compose and reorder; ¨ becomes space + mark
    "\u1100\u1161\u11a8 한국",  # Hangul jamo compose into a syllable
    "老板拖欠我们三个月ＡＢＣ工资，\n\n讨薪多次没有结果。",
]


def _check_traced(raw: str, normalized: str, spans: list[tuple[int, int]]) -> None:
    """Every normalised character comes from its span of ``raw``; spans are in order and inside ``raw``."""
    assert len(spans) == len(normalized)
    for ch, (s, e) in zip(normalized, spans, strict=True):
        assert 0 <= s < e <= len(raw)
        source = unicodedata.normalize("NFKC", raw[s:e]).lower()
        if ch == " ":
            assert raw[s:e].isspace() or " " in source
        else:
            assert ch in source or ch.casefold() in source.casefold(), (ch, raw[s:e])  # casefold: final sigma
    assert [s for s, _e in spans] == sorted(s for s, _e in spans)


@pytest.mark.parametrize("raw", TRICKY)
def test_normalize_is_the_text_of_normalize_with_offsets(raw):
    normalized, spans = normalize_with_offsets(raw)
    assert normalized == normalize(raw)
    _check_traced(raw, normalized, spans)


def test_offsets_point_at_the_original_characters():
    text, spans = normalize_with_offsets("  Ａ，ﬁ\t\n b ")
    assert text == "a,fi b"
    assert spans == [(2, 3), (3, 4), (4, 5), (4, 5), (5, 6), (8, 9)]  # the whitespace run maps to its first
    text, spans = normalize_with_offsets("cafe\u0301!")
    assert text == "café!" and spans[3] == (3, 5) and spans[4] == (5, 6)  # é covers e and its accent
    text, spans = normalize_with_offsets("İx")
    assert text == "i\u0307x" and spans == [(0, 1), (0, 1), (1, 2)]


@pytest.mark.parametrize(("title", "text"), [
    ("路灯坏了", "小区路灯坏了一个月"), ("小区路灯", "小区路灯坏了"), ("", "只有正文"), ("标题", ""), ("", ""),
    ("　Ｔｉｔｌｅ　", "ﬁ\n\n正文 ΣΑΣ"), (None, "正文"),
])
def test_join_title_is_the_text_of_join_title_with_offsets(title, text):
    joined, where = join_title_with_offsets(title, text)
    assert joined == join_title(title, text)
    assert len(where) == len(joined)
    for field in ("title", "text"):
        raw = (title if field == "title" else text) or ""
        mine = [(joined[i], (s, e)) for i, (f, s, e) in enumerate(where) if f == field]
        _check_traced(raw, "".join(c for c, _ in mine), [span for _, span in mine])
    assert [joined[i] for i, (f, _s, _e) in enumerate(where) if f == ""] in ([], ["。"])


@pytest.mark.parametrize("raw", TRICKY)
def test_words_and_chars_are_the_grams_of_their_spans(raw):
    text = normalize(raw)
    assert [g for g, _s, _e in word_spans(text)] == words(text)
    for gram, s, e in token_spans(text):
        assert text[s:e] == gram
    tokens, grams = token_spans(text), word_spans(text)
    assert grams[:len(tokens)] == tokens
    bigrams = grams[len(tokens):]
    assert len(bigrams) == max(len(tokens) - 1, 0)
    for (_a, start, _e), (_t, _s, end), bigram in zip(tokens, tokens[1:], bigrams, strict=False):
        assert bigram[1:] == (start, end)  # a bigram spans its two tokens and whatever lies between them
    assert [text[s:e] for s, e in char_spans(text)] == chars(text)


def test_plain_functions_keep_their_historical_output():
    """The TF-IDF models were trained with these: the exact strings must not change."""
    assert normalize("  Ｈｅｌｌｏ　世界，\n\n１２３ ") == "hello 世界, 123"
    assert join_title("路灯", "小区路灯坏了") == "路灯。小区路灯坏了"
    assert join_title("小区", "小区路灯坏了") == "小区路灯坏了"
    assert join_title("标题", "") == "标题。" and join_title("", "") == ""
    assert chars("abcd") == ["a", "b", "c", "d", "ab", "bc", "cd", "abc", "bcd"]
    assert chars("a") == ["a"] and chars("") == []
    assert words("路灯坏了，请维修") == ["路灯", "坏", "了", "请", "维修", "路灯 坏", "坏 了", "了 请", "请 维修"]
