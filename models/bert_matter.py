"""An encoder adapted to tell matters apart, for the similarity index's reranking by meaning (``sqmy.app.similar``):
contrastive training on two views of each text (a query-like view and the stored item's view), each view's
positive the other view of its own text and its negatives every other text of the batch (in-batch negatives,
symmetric InfoNCE), the batches drawn from one group of texts at a time (``groups``: texts of one genre and one
topic), so that neither genre nor topic tells the texts of a batch apart and only their matter does
(docs/BENCHMARKS.md, similar items, round 7). The word embeddings stay frozen (the words the corpus never uses
keep their pretrained rows). Checkpoints as for the student (``bert_student``): a killed run resumes where it
stopped."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sqmy.models.bert_layers import load_encoder, mean_pool, torch_module
from sqmy.models.bert_student import checkpoint_key, cosine_schedule, resume_checkpoint, run_steps, save_encoder

MIN_BATCH = 8  # a group's leftover smaller than this is not a batch (too few negatives)


@dataclass(frozen=True)
class MatterArguments:
    """How to adapt: the views' token budgets (the query's as ``meaning.QUERY_TOKENS``, the item's as
    ``meaning.MAX_TOKENS``), the batch (its texts are each other's negatives), the temperature of the softmax
    over cosines, and the optimisation (one epoch over the corpus, measured in docs/BENCHMARKS.md)."""

    query_length: int = 64
    max_length: int = 128
    batch_size: int = 32
    temperature: float = 0.05
    epochs: float = 1.0
    lr: float = 2e-5
    warmup: float = 0.05
    seed: int = 0
    checkpoint_every: int = 20


def grouped_batches(groups: Sequence[str], args: MatterArguments) -> list[list[int]]:
    """Every batch of every epoch, fixed by the seed: each group's rows shuffled and cut into batches of
    ``batch_size`` (a leftover under ``MIN_BATCH`` dropped; groups smaller than that pooled into one), the batches of
    all groups shuffled together."""
    rng = random.Random(args.seed)
    members: dict[str, list[int]] = {}
    for row, group in enumerate(groups):
        members.setdefault(group, []).append(row)
    pooled = [row for rows in members.values() if len(rows) < MIN_BATCH for row in rows]
    members = {g: rows for g, rows in members.items() if len(rows) >= MIN_BATCH}
    if pooled:  # groups too small for a batch of their own share one
        members["\0pooled"] = pooled
    total = max(1, round(args.epochs * len(groups) / args.batch_size))
    batches: list[list[int]] = []
    while len(batches) < total:
        epoch: list[list[int]] = []
        for rows in members.values():
            rows = rng.sample(rows, len(rows))
            epoch += [rows[s:s + args.batch_size] for s in range(0, len(rows), args.batch_size)
                      if len(rows[s:s + args.batch_size]) >= MIN_BATCH]
        if not epoch:
            raise ValueError(f"fewer than {MIN_BATCH} texts: nothing to contrast")
        rng.shuffle(epoch)
        batches += epoch
    return batches[:total]


def tune_for_matters(base: Path, pairs: Sequence[tuple[str, str]], groups: Sequence[str], out: Path, *,
                     args: MatterArguments = MatterArguments(), checkpoint_dir: Path,
                     log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train the encoder at ``base`` on ``pairs`` (query view, item view; both with the encoder's text prefix
    already on) batched within ``groups`` (one key per pair), and save it (encoder and tokenizer) under ``out``."""
    if len(pairs) != len(groups):
        raise ValueError("one group per pair")
    torch = torch_module()
    from transformers import AutoModel, AutoTokenizer

    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    settings = {k: v for k, v in asdict(args).items() if k != "checkpoint_every"}
    key = checkpoint_key(settings, str(base), texts=[text for pair in pairs for text in pair])
    state = checkpoint_dir / f"matter-{key}.pt"
    torch.manual_seed(args.seed)
    encoder = load_encoder(AutoModel, base).float()
    tokenizer = AutoTokenizer.from_pretrained(base)
    encoder.get_input_embeddings().weight.requires_grad_(False)
    batches = grouped_batches(groups, args)
    optimiser = torch.optim.AdamW([p for p in encoder.parameters() if p.requires_grad], lr=args.lr,
                                  weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: cosine_schedule(s, len(batches), int(args.warmup * len(batches))))
    first, losses = resume_checkpoint(state, encoder, optimiser, scheduler, log)

    def embed(texts: list[str], max_length: int) -> Any:
        batch = tokenizer(texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
        hidden = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        return torch.nn.functional.normalize(mean_pool(hidden, batch["attention_mask"]), dim=-1)

    def loss_of(rows: list[int]) -> Any:
        queries = embed([pairs[i][0] for i in rows], args.query_length)
        items = embed([pairs[i][1] for i in rows], args.max_length)
        logits = queries @ items.T / args.temperature
        target = torch.arange(len(rows))
        return (torch.nn.functional.cross_entropy(logits, target) +
                torch.nn.functional.cross_entropy(logits.T, target)) / 2

    run_steps("matter", batches, first, loss_of, (encoder, optimiser, scheduler), losses, state,
              args.checkpoint_every, log)
    save_encoder(encoder, tokenizer, out)
    return {"base": str(base), "steps": len(batches), "pairs": len(pairs), "groups": len(set(groups)),
            "final_loss": round(float(np.mean(losses[-20:])), 5) if losses else None, **asdict(args)}
