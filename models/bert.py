"""BERT engine: a mean-pooled encoder (any local Hugging Face BERT-family checkpoint) with a multi-task head
(level-1 topic, level-2 topic, lead unit, involved units), fine-tuned on CPU-friendly settings and calibrated
on a held-out validation split."""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.base import (
    Doc,
    Engine,
    HeadProbabilities,
    Targets,
    check_docs,
    hierarchical_l2,
    read_metadata,
    write_metadata,
)
from models.calibration import PlattScaler, fit_temperature, softmax_t

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a model hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ENCODER_DIR = "encoder"
HEADS_NAME = "heads.pt"
HEAD_NAMES = ("topic_l1", "topic_l2", "lead", "involved")


def _torch():
    import torch

    return torch


def _module(hidden: int, sizes: dict[str, int], dropout: float):
    """The multi-task head on top of the mean-pooled encoder output."""
    nn = _torch().nn

    class Heads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dropout = nn.Dropout(dropout)
            self.heads = nn.ModuleDict({name: nn.Linear(hidden, n) for name, n in sizes.items() if n})

        def forward(self, pooled):
            pooled = self.dropout(pooled)
            return {name: head(pooled) for name, head in self.heads.items()}

    return Heads()


def _load_encoder(auto_model: Any, path: str | Path) -> Any:
    """The encoder without its pooler (unused: we mean-pool); families without the option load as they are."""
    try:
        return auto_model.from_pretrained(path, add_pooling_layer=False)
    except TypeError:
        return auto_model.from_pretrained(path)


def mean_pool(hidden, mask):
    mask = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-6)


UNSEEN_LOGIT = -10.0  # bias of a class with no training row: never the answer, never NaN


def softmax_probe(x: np.ndarray, y: np.ndarray, n_classes: int, c: float) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression on ``x`` as the (weight, bias) of a linear softmax head over
    ``n_classes`` (classes with no row get a very low bias)."""
    from sklearn.linear_model import LogisticRegression

    weight = np.zeros((n_classes, x.shape[1]), dtype=np.float32)
    bias = np.full(n_classes, UNSEEN_LOGIT, dtype=np.float32)
    present = np.unique(y)
    if len(present) == 1:
        bias[present[0]] = 0.0
        return weight, bias
    model = LogisticRegression(C=c, max_iter=2000).fit(x, y)
    if len(present) == 2:  # sklearn keeps one row for two classes: split it symmetrically
        weight[present[1]], weight[present[0]] = model.coef_[0] / 2, -model.coef_[0] / 2
        bias[present[1]], bias[present[0]] = model.intercept_[0] / 2, -model.intercept_[0] / 2
    else:
        weight[model.classes_], bias[model.classes_] = model.coef_, model.intercept_
    return weight, bias


def binary_probe(x: np.ndarray, y: np.ndarray, c: float) -> tuple[np.ndarray, float]:
    """One independent logistic regression (a multi-label head's column) as (weight, bias)."""
    from sklearn.linear_model import LogisticRegression

    if y.min() == y.max():
        return np.zeros(x.shape[1], dtype=np.float32), -UNSEEN_LOGIT if y.max() else UNSEEN_LOGIT
    model = LogisticRegression(C=c, max_iter=2000).fit(x, y)
    return model.coef_[0].astype(np.float32), float(model.intercept_[0])


def l1_logits_from_l2(l2_logits: np.ndarray, l2_classes: list[str], l1_classes: list[str]) -> np.ndarray:
    """Level-1 logits as the log-sum-exp of their level-2 children's logits (softmax of them is the sum of the
    children's probabilities); a level-1 class without children gets a very low logit."""
    from scipy.special import logsumexp

    out = np.full((len(l2_logits), len(l1_classes)), UNSEEN_LOGIT, dtype=np.float32)
    parents = np.array([c.split("/")[0] for c in l2_classes])
    for j, name in enumerate(l1_classes):
        children = parents == name
        if children.any():
            out[:, j] = logsumexp(l2_logits[:, children], axis=1)
    return out


class BertEngine(Engine):
    """Fine-tuned encoder with calibrated multi-task heads.

    Parameters
    ----------
    base : str, default=""
        Path of a local Hugging Face checkpoint (bert-base-chinese, chinese-roberta-wwm-ext, rbt3, or the
        e5-small built by ``sqmy base-encoder``).
    max_length : int, default=256
        Tokens per item: the title first, then the head of the text.
    n_layers : int or None, default=None
        Keep only the first N encoder layers (faster, a little less accurate).
    epochs, batch_size : int, default=4, 16
        ``epochs=0`` keeps the pretrained encoder as it is and serves the linear probe alone.
    probe : bool, default=True
        Fit the heads first as logistic regressions on the frozen encoder's mean-pooled output, then fine-tune
        from there (LP-FT). A probe moves no encoder weight, so it keeps what pretraining learnt: on real messages
        it generalises better than fine-tuning on a synthetic corpus (docs/BENCHMARKS.md).
    probe_c : float, default=4.0
        Inverse L2 regularisation of the probe's logistic regressions.
    lr_encoder, lr_head : float, default=1e-4, 3e-3
        Separate learning rates for the pretrained encoder and the freshly initialised heads.
    warmup : float, default=0.1
        Share of steps with a linear learning-rate warm-up.
    patience : int, default=1
        Epochs without validation improvement before stopping early.
    validation_fraction : float, default=0.1
        Held out from the training items for early stopping and calibration.
    prefix : str, default="passage: "
        Prepended to every text (e5 was trained with it; use "" for other checkpoints).
    seed : int, default=0
    device : str, default="auto"
        "auto" uses a CUDA GPU when one is visible, else the CPU.
    """

    name = "bert"

    def __init__(self, *, base: str = "", max_length: int = 256, n_layers: int | None = None, epochs: int = 4,
                 batch_size: int = 16, lr_encoder: float = 1e-4, lr_head: float = 3e-3, warmup: float = 0.1,
                 patience: int = 1, validation_fraction: float = 0.1, prefix: str = "passage: ",
                 probe: bool = True, probe_c: float = 4.0, seed: int = 0, device: str = "auto") -> None:
        self.base = base
        self.max_length = max_length
        self.n_layers = n_layers
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr_encoder = lr_encoder
        self.lr_head = lr_head
        self.warmup = warmup
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.prefix = prefix
        self.probe = probe
        self.probe_c = probe_c
        self.seed = seed
        self.device = device

    def _device(self):
        torch = _torch()
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    # ------------------------------------------------------------------ text
    def _texts(self, docs: Sequence[Doc]) -> list[str]:
        return [f"{self.prefix}{d.title.strip()}。{d.text.strip()}" if d.title.strip() else f"{self.prefix}{d.text}"
                for d in docs]

    def _encode(self, texts: Sequence[str]) -> list[list[int]]:
        return self.tokenizer_(list(texts), truncation=True, max_length=self.max_length)["input_ids"]

    def _batches(self, ids: list[list[int]], order: Sequence[int]):
        """Length-bucketed dynamic padding: batches of similar lengths, padded to their own maximum."""
        torch = _torch()
        pad = self.tokenizer_.pad_token_id
        for start in range(0, len(order), self.batch_size):
            rows = list(order[start:start + self.batch_size])
            width = max(len(ids[i]) for i in rows)
            input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for r, i in enumerate(rows):
                input_ids[r, : len(ids[i])] = torch.tensor(ids[i])
                mask[r, : len(ids[i])] = 1
            yield rows, input_ids, mask

    def _pooled_batch(self, input_ids, mask):
        """The encoder's mean-pooled output for one padded batch, on the model's device."""
        device = next(self.heads_.parameters()).device
        input_ids, mask = input_ids.to(device), mask.to(device)
        hidden = self.encoder_(input_ids=input_ids, attention_mask=mask).last_hidden_state
        return mean_pool(hidden, mask)

    def _logits(self, input_ids, mask):
        return self.heads_(self._pooled_batch(input_ids, mask))

    def _snapshot(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Copies of the encoder's and the heads' weights (the best epoch so far)."""
        return ({k: v.detach().clone() for k, v in self.encoder_.state_dict().items()},
                {k: v.detach().clone() for k, v in self.heads_.state_dict().items()})

    # ------------------------------------------------------------------- fit
    def fit(self, docs: Sequence[Doc], targets: Targets, log: Callable[[str], None] | None = None) -> BertEngine:
        torch = _torch()
        from transformers import AutoModel, AutoTokenizer, get_linear_schedule_with_warmup

        docs = check_docs(docs)
        log = log or (lambda _message: None)
        if not self.base or not (Path(self.base) / "config.json").is_file():
            raise FileNotFoundError(f"base encoder {self.base!r} is not a local Hugging Face checkpoint "
                                    "(build one with `sqmy base-encoder`)")
        random.seed(self.seed)
        np.random.seed(self.seed)
        torch.manual_seed(self.seed)
        self.tokenizer_ = AutoTokenizer.from_pretrained(self.base)
        self.encoder_ = _load_encoder(AutoModel, self.base)
        if self.n_layers:
            self.encoder_.encoder.layer = self.encoder_.encoder.layer[: self.n_layers]
            self.encoder_.config.num_hidden_layers = self.n_layers

        label_rows = {"topic_l1": targets.topic_l1, "topic_l2": targets.topic_l2, "lead": targets.lead}
        self.topic_l1_classes_ = sorted({v for v in targets.topic_l1 if v})
        self.topic_l2_classes_ = sorted({v for v in targets.topic_l2 if v})
        self.lead_classes_ = sorted({v for v in targets.lead if v})
        self.involved_classes_ = sorted({u for units in targets.involved if units for u in units})
        classes = {"topic_l1": self.topic_l1_classes_, "topic_l2": self.topic_l2_classes_,
                   "lead": self.lead_classes_, "involved": self.involved_classes_}
        # Level 1 is read off the level-2 head when every row with a topic has its level 2 (a linear head
        # separates 117 narrow level-2 classes better than 15 broad level-1 ones); else the level-1 head answers.
        self.topic_l1_from_l2_ = all(l2 for l1, l2 in zip(targets.topic_l1, targets.topic_l2, strict=True) if l1) \
            and bool(self.topic_l2_classes_)
        y = {name: np.array([classes[name].index(v) if v else -100 for v in values])
             for name, values in label_rows.items()}
        involved = np.zeros((len(docs), len(self.involved_classes_)), dtype=np.float32)
        has_involved = np.array([units is not None for units in targets.involved])
        for row, units in enumerate(targets.involved):
            for unit in units or []:
                involved[row, self.involved_classes_.index(unit)] = 1
        self.heads_ = _module(self.encoder_.config.hidden_size, {k: len(v) for k, v in classes.items()}, 0.1)
        device = self._device()
        self.encoder_.to(device)
        self.heads_.to(device)

        ids = self._encode(self._texts(docs))
        rng = np.random.default_rng(self.seed)
        perm = rng.permutation(len(docs))
        n_val = round(len(docs) * self.validation_fraction) if len(docs) >= 20 else 0
        val, train = perm[:n_val], perm[n_val:]
        steps_per_epoch = math.ceil(len(train) / self.batch_size)
        optimizer = torch.optim.AdamW([
            {"params": self.encoder_.parameters(), "lr": self.lr_encoder},
            {"params": self.heads_.parameters(), "lr": self.lr_head},
        ], weight_decay=0.01)
        total = max(1, steps_per_epoch * self.epochs)
        scheduler = get_linear_schedule_with_warmup(optimizer, int(total * self.warmup), total)
        ce = torch.nn.CrossEntropyLoss(ignore_index=-100)
        bce = torch.nn.BCEWithLogitsLoss(reduction="none")

        def loss_of(rows: list[int], logits: dict[str, Any]):
            loss = 0.0
            device = next(self.heads_.parameters()).device
            for name in ("topic_l1", "topic_l2", "lead"):
                target = torch.tensor(y[name][rows], device=device)
                if name in logits and (target != -100).any():
                    loss = loss + ce(logits[name], target)
            if "involved" in logits and has_involved[rows].any():
                per = bce(logits["involved"], torch.tensor(involved[rows], device=device)).mean(1)
                loss = loss + (per * torch.tensor(has_involved[rows], dtype=per.dtype, device=device)).sum() / max(
                    1, int(has_involved[rows].sum()))
            return loss

        best, best_state, stale, history = math.inf, None, 0, []
        started = time.perf_counter()
        if self.probe:
            self._fit_probe(self._pooled(ids, train, log), {k: v[train] for k, v in y.items()}, involved[train],
                            has_involved[train])
            val_loss = self._validation_loss(ids, val, loss_of) if len(val) else math.nan
            history.append({"epoch": 0, "stage": "probe", "validation_loss": round(val_loss, 4)})
            log(f"linear probe fitted ({time.perf_counter() - started:.0f}s): validation loss {val_loss:.4f}")
            if self.epochs and len(val):
                best, best_state = val_loss, self._snapshot()
        elif not self.epochs:
            raise ValueError("epochs=0 needs probe=True: the heads would stay untrained")
        for epoch in range(self.epochs):
            self.encoder_.train()
            self.heads_.train()
            # bucket by length, then shuffle the buckets: little padding, random order
            order = sorted(rng.permutation(train).tolist(), key=lambda i: len(ids[i]))
            batches = list(self._batches(ids, order))
            rng.shuffle(batches)
            for step, (rows, input_ids, mask) in enumerate(batches, 1):
                loss = loss_of(rows, self._logits(input_ids, mask))
                loss.backward()
                torch.nn.utils.clip_grad_norm_(list(self.encoder_.parameters()) + list(self.heads_.parameters()), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                if step % 20 == 0 or step == len(batches):
                    log(f"epoch {epoch + 1}/{self.epochs} step {step}/{len(batches)} loss {float(loss.detach()):.4f} "
                        f"({time.perf_counter() - started:.0f}s)")
            val_loss = self._validation_loss(ids, val, loss_of) if len(val) else float(loss.detach())
            history.append({"epoch": epoch + 1, "validation_loss": round(val_loss, 4)})
            log(f"epoch {epoch + 1}: validation loss {val_loss:.4f}")
            if val_loss < best - 1e-4:
                best, stale, best_state = val_loss, 0, self._snapshot()
            else:
                stale += 1
                if stale > self.patience:
                    log("early stopping")
                    break
        if best_state is not None:
            self.encoder_.load_state_dict(best_state[0])
            self.heads_.load_state_dict(best_state[1])
        self.encoder_.eval()
        self.heads_.eval()
        self._calibrate(ids, val if len(val) else train, y, involved, has_involved)
        self.metadata_ = {"engine": self.name, "params": self.get_params(), "history": history,
                          "torch_version": torch.__version__, "base": str(self.base)}
        return self

    def _pooled(self, ids: list[list[int]], rows: np.ndarray,
                log: Callable[[str], None] | None = None) -> np.ndarray:
        """Mean-pooled encoder output of ``rows`` (inference mode), one float32 row each."""
        torch = _torch()
        started = time.perf_counter()
        self.encoder_.eval()
        subset = [ids[i] for i in rows]
        out = np.zeros((len(subset), self.encoder_.config.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            batches = self._batches(subset, sorted(range(len(subset)), key=lambda i: len(subset[i])))
            for n, (batch_rows, input_ids, mask) in enumerate(batches, 1):
                out[batch_rows] = self._pooled_batch(input_ids, mask).float().cpu().numpy()
                if log and (n % 50 == 0 or n * self.batch_size >= len(subset)):
                    log(f"probe: encoded {min(n * self.batch_size, len(subset))}/{len(subset)} "
                        f"({time.perf_counter() - started:.0f}s)")
        return out

    def _fit_probe(self, pooled: np.ndarray, y: dict[str, np.ndarray], involved: np.ndarray,
                   has_involved: np.ndarray) -> None:
        """Set every head to logistic regressions fitted on the frozen pooled output (the linear probe)."""
        torch = _torch()
        heads = self.heads_.heads
        fitted: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name in ("topic_l1", "topic_l2", "lead"):
            if name in heads:
                keep = y[name] != -100
                fitted[name] = softmax_probe(pooled[keep], y[name][keep], heads[name].out_features, self.probe_c)
        if "involved" in heads:
            rows = pooled[has_involved]
            columns = [binary_probe(rows, involved[has_involved, j], self.probe_c) for j in range(involved.shape[1])]
            fitted["involved"] = (np.stack([w for w, _ in columns]), np.array([b for _, b in columns]))
        with torch.no_grad():
            for name, (weight, bias) in fitted.items():
                heads[name].weight.copy_(torch.as_tensor(weight, dtype=heads[name].weight.dtype))
                heads[name].bias.copy_(torch.as_tensor(bias, dtype=heads[name].bias.dtype))

    def _validation_loss(self, ids: list[list[int]], rows: np.ndarray, loss_of: Callable[..., Any]) -> float:
        torch = _torch()
        self.encoder_.eval()
        self.heads_.eval()
        total, n = 0.0, 0
        with torch.no_grad():
            for batch_rows, input_ids, mask in self._batches(ids, sorted(rows.tolist(), key=lambda i: len(ids[i]))):
                total += float(loss_of(batch_rows, self._logits(input_ids, mask))) * len(batch_rows)
                n += len(batch_rows)
        return total / max(n, 1)

    def _raw_logits(self, ids: list[list[int]]) -> dict[str, np.ndarray]:
        torch = _torch()
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out: dict[str, np.ndarray] = {}
        runner = getattr(self, "onnx_", None)
        with torch.inference_mode():
            for rows, input_ids, mask in self._batches(ids, order):
                if runner is not None:
                    for name, value in runner(input_ids.numpy(), mask.numpy()).items():
                        out.setdefault(name, np.zeros((len(ids), value.shape[1]), dtype=np.float32))[rows] = value
                    continue
                for name, value in self._logits(input_ids, mask).items():
                    out.setdefault(name, np.zeros((len(ids), value.shape[1]), dtype=np.float32))[rows] = \
                        value.float().cpu().numpy()
        if getattr(self, "topic_l1_from_l2_", False) and "topic_l2" in out:
            out["topic_l1"] = l1_logits_from_l2(out["topic_l2"], self.topic_l2_classes_, self.topic_l1_classes_)
        return out

    def _calibrate(self, ids: list[list[int]], rows: np.ndarray, y: dict[str, np.ndarray], involved: np.ndarray,
                   has_involved: np.ndarray) -> None:
        logits = self._raw_logits([ids[i] for i in rows])
        self.temperatures_ = {}
        for name in ("topic_l1", "topic_l2", "lead"):
            target = y[name][rows]
            keep = target != -100
            self.temperatures_[name] = (fit_temperature(logits[name][keep], target[keep])
                                        if name in logits and keep.sum() >= 5 else 1.0)
        self.platt_ = PlattScaler()
        keep = has_involved[rows]
        if "involved" in logits and keep.any():
            self.platt_.fit(logits["involved"][keep], involved[rows][keep].astype(int))
        else:
            self.platt_.coef_, self.platt_.intercept_ = 1.0, 0.0

    # --------------------------------------------------------------- predict
    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "heads_")

    def predict_proba(self, docs: Sequence[Doc]) -> HeadProbabilities:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        docs = check_docs(docs)
        logits = self._raw_logits(self._encode(self._texts(docs)))
        n = len(docs)

        def head(name: str) -> np.ndarray:
            if name not in logits:
                return np.zeros((n, 0))
            if name == "involved":
                return self.platt_.transform(logits[name])
            return softmax_t(logits[name], self.temperatures_[name])

        l1 = head("topic_l1")
        return HeadProbabilities(l1, hierarchical_l2(l1, self.topic_l1_classes_, head("topic_l2"),
                                                     self.topic_l2_classes_), head("lead"), head("involved"))

    def raw_scores(self, docs: Sequence[Doc]) -> dict[str, np.ndarray]:
        """Uncalibrated logits of every head, ``{head: (n, n_classes)}`` (explanations use them: unlike the
        probabilities they never saturate at 0 or 1)."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        return self._raw_logits(self._encode(self._texts(check_docs(docs))))

    # ------------------------------------------------------------ save/load
    def save(self, path: Path) -> Path:
        torch = _torch()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.encoder_.save_pretrained(path / ENCODER_DIR)
        self.tokenizer_.save_pretrained(path / ENCODER_DIR)
        torch.save({
            "state": self.heads_.state_dict(), "params": self.get_params(),
            "classes": {"topic_l1": self.topic_l1_classes_, "topic_l2": self.topic_l2_classes_,
                        "lead": self.lead_classes_, "involved": self.involved_classes_},
            "temperatures": self.temperatures_, "platt": (self.platt_.coef_, self.platt_.intercept_),
            "topic_l1_from_l2": self.topic_l1_from_l2_,
        }, path / HEADS_NAME)
        write_metadata(path, self.metadata_)
        return path

    @classmethod
    def load(cls, path: Path, *, runtime: str = "auto") -> BertEngine:
        """Load a saved engine. ``runtime="auto"`` serves the int8 ONNX graph with onnxruntime when the
        artifact has one (the fast CPU path) and torch otherwise; ``"torch"`` or ``"onnx"`` force one."""
        torch = _torch()
        from transformers import AutoModel, AutoTokenizer

        path = Path(path)
        saved = torch.load(path / HEADS_NAME, weights_only=False, map_location="cpu")
        engine = cls(**saved["params"])
        engine.tokenizer_ = AutoTokenizer.from_pretrained(path / ENCODER_DIR)
        device = engine._device()
        engine.encoder_ = _load_encoder(AutoModel, path / ENCODER_DIR).float().eval().to(device)
        classes = saved["classes"]
        engine.topic_l1_classes_, engine.topic_l2_classes_ = classes["topic_l1"], classes["topic_l2"]
        engine.lead_classes_, engine.involved_classes_ = classes["lead"], classes["involved"]
        engine.heads_ = _module(engine.encoder_.config.hidden_size, {k: len(v) for k, v in classes.items()}, 0.1)
        engine.heads_.load_state_dict(saved["state"])
        engine.heads_.eval().to(device)
        engine.temperatures_ = saved["temperatures"]
        engine.topic_l1_from_l2_ = saved.get("topic_l1_from_l2", False)  # older artifacts: the level-1 head
        engine.platt_ = PlattScaler()
        engine.platt_.coef_, engine.platt_.intercept_ = saved["platt"]
        engine.metadata_ = read_metadata(path)
        from models.bert_onnx import INT8_NAME, OnnxRunner

        if runtime == "onnx" or (runtime == "auto" and (path / INT8_NAME).is_file() and device.type == "cpu"):
            engine.onnx_ = OnnxRunner(path / INT8_NAME, threads=torch.get_num_threads())
            engine.metadata_["runtime"] = "onnxruntime-int8"
        return engine
