"""Serving batches by token budget: short items many to a batch, long ones few, none dropped or reordered."""

from __future__ import annotations

from sqmy.models.bert_layers import token_budget_groups


def test_batches_respect_rows_and_padded_tokens_and_keep_every_item():
    lengths = [12, 300, 40, 40, 8, 256, 64, 10, 100, 12]
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches = list(token_budget_groups(lengths, order, 4, 512))
    assert [i for batch in batches for i in batch] == order  # every item once, in the given order
    for batch in batches:
        assert len(batch) <= 4
        assert len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= 512
    assert batches[0] == order[:4]  # the four shortest fit in one batch
    assert [300] in [[lengths[i] for i in b] for b in batches]  # the longest goes alone


def test_without_a_token_budget_batches_are_fixed_size():
    lengths = [5] * 10
    assert [len(b) for b in token_budget_groups(lengths, range(10), 4, None)] == [4, 4, 2]


def test_a_padding_limit_keeps_items_of_other_lengths_apart():
    lengths = [20, 21, 22, 60, 200, 200, 210, 35]
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches = list(token_budget_groups(lengths, order, 16, None, 0.1))
    assert [i for batch in batches for i in batch] == order
    for batch in batches:
        real = sum(lengths[i] for i in batch)
        assert len(batch) * max(lengths[i] for i in batch) <= 1.1 * real
    assert [[lengths[i] for i in b] for b in batches] == [[20, 21, 22], [35], [60], [200, 200, 210]]
