"""An encoder adapted to tell matters apart (``sqmy base-encoder --matter``), on a tiny random BERT built on the fly."""

from __future__ import annotations

import numpy as np

from sqmy.models.bert_matter import MIN_BATCH, MatterArguments, grouped_batches, tune_for_matters
from sqmy.training.matter import matter_pairs


def _view_accuracy(encoder_dir, pairs) -> float:
    """How often a query view's nearest item view (cosine of mean-pooled embeddings) is its own text's."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from sqmy.models.bert_layers import mean_pool

    model, tokenizer = AutoModel.from_pretrained(encoder_dir).eval(), AutoTokenizer.from_pretrained(encoder_dir)

    def embed(texts: list[str]) -> np.ndarray:
        batch = tokenizer(texts, truncation=True, max_length=64, padding=True, return_tensors="pt")
        with torch.no_grad():
            pooled = mean_pool(model(**batch).last_hidden_state, batch["attention_mask"]).numpy()
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

    sims = embed([q for q, _ in pairs]) @ embed([v for _, v in pairs]).T
    return float(np.mean(sims.argmax(1) == np.arange(len(pairs))))


def test_adapting_brings_two_views_of_a_text_together_and_resumes(tiny_base, items, tmp_path):
    pairs, groups = matter_pairs(items, None, prefix="")
    args = MatterArguments(query_length=48, max_length=64, batch_size=16, epochs=12, lr=3e-3, checkpoint_every=5)
    logged: list[str] = []
    info = tune_for_matters(tiny_base, pairs, groups, tmp_path / "matter", args=args, checkpoint_dir=tmp_path / "ck",
                            log=logged.append)
    losses = [float(m.split("loss ")[1].split()[0]) for m in logged if m.startswith("matter: step")]
    assert info["steps"] == round(12 * len(pairs) / 16) and losses[-1] < losses[0]
    before, after = _view_accuracy(tiny_base, pairs), _view_accuracy(tmp_path / "matter", pairs)
    assert after > before + 0.1, (before, after)
    # a rerun (a killed job started again) finds the finished checkpoint instead of training again
    again: list[str] = []
    tune_for_matters(tiny_base, pairs, groups, tmp_path / "matter2", args=args, checkpoint_dir=tmp_path / "ck",
                     log=again.append)
    assert any("resuming at step" in m for m in again) and not any(m.startswith("matter: step") for m in again)
    assert _view_accuracy(tmp_path / "matter2", pairs) == after


def test_a_batch_holds_texts_of_one_group_and_small_groups_share_one():
    """Texts of one genre and topic are each other's negatives, so that only the matter tells them apart; groups
    too small for a batch are pooled rather than lost."""
    groups = ["网民留言|城乡建设"] * 70 + ["12345工单|城乡建设"] * 40 + ["社情民意信息|政法"] * 3 + ["短诉求|政法"] * 5
    args = MatterArguments(batch_size=16, epochs=3)
    batches = grouped_batches(groups, args)
    assert len(batches) == round(3 * len(groups) / 16) and batches == grouped_batches(groups, args)
    assert all(len(b) >= MIN_BATCH for b in batches)
    small = set(range(110, 118))
    for batch in batches:
        kinds = {groups[i] for i in batch}
        assert len(kinds) == 1 or set(batch) == small
    assert any(set(b) == small for b in batches)  # the two small groups (3 + 5 texts), pooled
