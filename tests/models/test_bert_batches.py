"""Serving batches by token budget: short items many to a batch, long ones few, none dropped or reordered."""

from __future__ import annotations

import numpy as np

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


def test_level_one_probabilities_read_off_level_two_are_the_sums_of_their_children():
    """BERT answers level 1 from its level-2 head: softmax of the level-1 logits must equal the summed
    probabilities of each class's level-2 children (also for extreme logits), and a level-1 class without
    children gets next to nothing."""
    from sqmy.models.bert_layers import l1_logits_from_l2

    l2_classes = ["交通运输/出租车管理", "交通运输/客货运输", "城乡建设/村镇建设", "政法/户籍证件", "政法/社会治安"]
    l1_classes = ["交通运输", "城乡建设", "政法", "民政"]  # 民政 has no level-2 child here
    rng = np.random.default_rng(0)
    logits = np.vstack([rng.normal(0, 6, (5, 5)), [[900.0, -900.0, 0.0, 40.0, 41.0]]]).astype(np.float32)

    def softmax(x):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    p2 = softmax(logits.astype(np.float64))
    expected = np.stack([p2[:, :2].sum(1), p2[:, 2], p2[:, 3:].sum(1)], axis=1)
    p1 = softmax(l1_logits_from_l2(logits, l2_classes, l1_classes).astype(np.float64))
    assert (p1[:, 3] < 1e-3).all()  # the childless class: a fixed very low logit
    np.testing.assert_allclose(p1[:, :3] / p1[:, :3].sum(axis=1, keepdims=True), expected, atol=1e-6)
    assert l1_logits_from_l2(logits[:0], l2_classes, l1_classes).shape == (0, 4)


def test_callers_on_two_threads_each_get_their_own_token_budget(tmp_path):
    """``auto`` and ``bert`` batches (and the similarity index's queries and embeddings) share one tokenizer from
    their own threads with different budgets: each caller's texts are cut to its own budget, never the other's."""
    import threading

    from tokenizers import Tokenizer, models, pre_tokenizers

    from sqmy.models.bert_layers import FastTokenizer

    vocab = {token: i for i, token in enumerate(["[PAD]", "[UNK]", *"小区电梯坏了三个月物业一直不修，。"])}
    raw = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    raw.save(str(tmp_path / "tokenizer.json"))
    tokenizer = FastTokenizer(tmp_path)
    texts = ["小区电梯坏了三个月，物业一直不修。" * 30] * 8
    wrong: list[tuple[int, int]] = []

    def cut_to(budget: int) -> None:
        for _ in range(300):
            wrong.extend((budget, len(ids)) for ids in tokenizer(texts, max_length=budget)["input_ids"]
                         if len(ids) != budget)

    threads = [threading.Thread(target=cut_to, args=(budget,)) for budget in (16, 64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
