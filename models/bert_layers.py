"""Torch building blocks shared by the BERT model, its trainer and its ONNX exporter."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sqmy.models.base import parent_matrix

UNSEEN_LOGIT = -10.0  # bias of a class with no training row: never the answer, never NaN


def torch_module() -> Any:
    """``torch``, imported on first use (the TF-IDF path never pays for it)."""
    import torch

    return torch


def heads_module(hidden: int, sizes: dict[str, int], dropout: float) -> Any:
    """The multi-task head on top of the mean-pooled encoder output."""
    nn = torch_module().nn

    class Heads(nn.Module):  # type: ignore[name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.dropout = nn.Dropout(dropout)
            self.heads = nn.ModuleDict({name: nn.Linear(hidden, n) for name, n in sizes.items() if n})

        def forward(self, pooled):
            pooled = self.dropout(pooled)
            return {name: head(pooled) for name, head in self.heads.items()}

    return Heads()


def load_encoder(auto_model: Any, path: str | Path) -> Any:
    """The encoder without its pooler (unused: we mean-pool); families without the option load as they are."""
    try:
        return auto_model.from_pretrained(path, add_pooling_layer=False)
    except TypeError:
        return auto_model.from_pretrained(path)


def mean_pool(hidden: Any, mask: Any) -> Any:
    mask = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-6)


def token_budget_groups(lengths: Sequence[int], order: Sequence[int], max_rows: int,
                        max_tokens: int | None, max_padding: float | None = None) -> Iterator[list[int]]:
    """``order`` cut into batches: at most ``max_rows`` rows and, with ``max_tokens``, at most that many tokens once
    padded to the batch's longest row (``order`` sorted by length keeps the padding small). Short items then go
    many to a batch and long ones few, instead of a fixed count whatever their length. With ``max_padding``, a
    batch also ends before its padded tokens would exceed its real ones by more than that share."""
    rows: list[int] = []
    width = real = 0
    for i in order:
        wider = max(width, lengths[i])
        padded = (len(rows) + 1) * wider
        if rows and (len(rows) == max_rows or (max_tokens and padded > max_tokens)
                     or (max_padding is not None and padded > (1 + max_padding) * (real + lengths[i]))):
            yield rows
            rows, wider, real = [], lengths[i], 0
        rows.append(i)
        width, real = wider, real + lengths[i]
    if rows:
        yield rows


def padded_batches(ids: list[list[int]], order: Sequence[int], batch_size: int, pad_id: int, *,
                   max_tokens: int | None = None) -> Iterator[tuple[list[int], Any, Any]]:
    """Length-bucketed dynamic padding: ``(rows, input_ids, mask)`` batches of similar lengths, padded to their
    own maximum (at most ``batch_size`` rows, and ``max_tokens`` padded tokens when given), as torch tensors."""
    torch = torch_module()
    for rows, input_ids, mask in numpy_batches(ids, order, batch_size, pad_id, max_tokens=max_tokens):
        yield rows, torch.from_numpy(input_ids), torch.from_numpy(mask)


def numpy_batches(ids: list[list[int]], order: Sequence[int], batch_size: int, pad_id: int, *,
                  max_tokens: int | None = None,
                  max_padding: float | None = None) -> Iterator[tuple[list[int], np.ndarray, np.ndarray]]:
    """``padded_batches`` as int64 numpy arrays (the int8 graph's input, and torch's through ``padded_batches``),
    without importing torch."""
    for rows in token_budget_groups([len(x) for x in ids], order, batch_size, max_tokens, max_padding):
        width = max(len(ids[i]) for i in rows)
        input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for r, i in enumerate(rows):
            input_ids[r, : len(ids[i])] = ids[i]
            mask[r, : len(ids[i])] = 1
        yield rows, input_ids, mask


def physical_cores() -> int:
    """The cores this process may use (what ``torch.get_num_threads()`` gives on these machines)."""
    return max(1, len(os.sched_getaffinity(0)))


class FastTokenizer:
    """A saved Hugging Face tokenizer (``tokenizer.json`` + ``tokenizer_config.json``) through the ``tokenizers``
    library alone: the ids of ``AutoTokenizer(texts, truncation=True, max_length=n)["input_ids"]`` without importing
    transformers (and with it torch)."""

    def __init__(self, directory: Path) -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.no_padding()
        self._lock = threading.Lock()
        config_file = directory / "tokenizer_config.json"
        config = json.loads(config_file.read_text(encoding="utf-8")) if config_file.is_file() else {}
        pad = config.get("pad_token")
        pad = pad.get("content") if isinstance(pad, dict) else pad
        pad_id = self.tokenizer.token_to_id(pad) if pad else None
        self.pad_token_id = int(pad_id) if pad_id is not None else 0

    def __call__(self, texts: list[str], *, truncation: bool = True,
                 max_length: int = 512) -> dict[str, list[list[int]]]:
        with self._lock:  # the truncation is the tokenizer's state: one caller at a time sets it and encodes
            if truncation:
                self.tokenizer.enable_truncation(max_length)
            else:
                self.tokenizer.no_truncation()
            encoded = self.tokenizer.encode_batch(texts)
        return {"input_ids": [e.ids for e in encoded]}


def l1_logits_from_l2(l2_logits: np.ndarray, l2_classes: list[str], l1_classes: list[str]) -> np.ndarray:
    """Level-1 logits as the log-sum-exp of their level-2 children's logits (softmax of them is the sum of the
    children's probabilities); a level-1 class without children gets a very low logit. Every family at once
    (shifted by its own maximum, in float64): a loop of scipy's ``logsumexp`` per class cost 2.8 ms per call,
    a tenth of a served BERT item."""
    out = np.full((len(l2_logits), len(l1_classes)), UNSEEN_LOGIT, dtype=np.float32)
    family = parent_matrix(tuple(l2_classes), tuple(l1_classes)).T > 0  # (level 1, level 2)
    known = family.any(axis=1)
    if not len(l2_logits) or not known.any():
        return out
    members = family[known][None]  # (1, families, level-2 columns)
    logits = np.asarray(l2_logits, dtype=np.float64)[:, None, :]
    top = np.where(members, logits, -np.inf).max(axis=2, keepdims=True)
    total = np.exp(np.where(members, logits - top, -np.inf)).sum(axis=2)
    out[:, known] = np.log(total) + top[..., 0]
    return out
