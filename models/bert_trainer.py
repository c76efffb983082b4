"""Training of the BERT engine, apart from the model (as setfit splits model and trainer): a linear probe of every head
on the frozen encoder, then optional fine-tuning with early stopping, then calibration on the validation split."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sqmy.models.base import Doc, Targets
from sqmy.models.bert_layers import UNSEEN_LOGIT, heads_module, load_encoder, torch_module
from sqmy.models.calibration import PlattScaler, fit_temperature

if TYPE_CHECKING:
    from sqmy.models.bert import BertEngine



@dataclass(frozen=True)
class TrainingArguments:
    """How to train (the engine's constructor parameters of the same names; see ``BertEngine``)."""

    epochs: int = 4
    batch_size: int = 16
    lr_encoder: float = 1e-4
    lr_head: float = 3e-3
    warmup: float = 0.1
    patience: int = 1
    validation_fraction: float = 0.1
    probe: bool = True
    probe_c: float = 4.0
    seed: int = 0

    @classmethod
    def from_engine(cls, engine: BertEngine) -> TrainingArguments:
        return cls(**{name: getattr(engine, name) for name in cls.__dataclass_fields__})


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



class BertTrainer:
    """Fits a ``BertEngine``'s encoder and heads in place."""

    def __init__(self, engine: BertEngine, args: TrainingArguments) -> None:
        self.engine, self.args = engine, args

    def train(self, docs: Sequence[Doc], targets: Targets, log: Callable[[str], None] | None = None) -> None:
        """Fit the engine on ``docs`` in place (the engine's ``fit``)."""
        torch = torch_module()
        from transformers import AutoModel, AutoTokenizer, get_linear_schedule_with_warmup

        log = log or (lambda _message: None)
        if not self.engine.base or not (Path(self.engine.base) / "config.json").is_file():
            raise FileNotFoundError(f"base encoder {self.engine.base!r} is not a local Hugging Face checkpoint "
                                    "(build one with `sqmy base-encoder`)")
        random.seed(self.args.seed)
        np.random.seed(self.args.seed)
        torch.manual_seed(self.args.seed)
        self.engine.tokenizer_ = AutoTokenizer.from_pretrained(self.engine.base)
        self.engine.encoder_ = load_encoder(AutoModel, self.engine.base)
        if self.engine.n_layers:
            self.engine.encoder_.encoder.layer = self.engine.encoder_.encoder.layer[: self.engine.n_layers]
            self.engine.encoder_.config.num_hidden_layers = self.engine.n_layers

        label_rows = {"topic_l1": targets.topic_l1, "topic_l2": targets.topic_l2, "lead": targets.lead}
        self.engine.topic_l1_classes_ = sorted({v for v in targets.topic_l1 if v})
        self.engine.topic_l2_classes_ = sorted({v for v in targets.topic_l2 if v})
        self.engine.lead_classes_ = sorted({v for v in targets.lead if v})
        self.engine.involved_classes_ = sorted({u for units in targets.involved if units for u in units})
        classes = {"topic_l1": self.engine.topic_l1_classes_, "topic_l2": self.engine.topic_l2_classes_,
                   "lead": self.engine.lead_classes_, "involved": self.engine.involved_classes_}
        # Level 1 is read off the level-2 head when every row with a topic has its level 2 (a linear head
        # separates 117 narrow level-2 classes better than 15 broad level-1 ones); else the level-1 head answers.
        pairs = zip(targets.topic_l1, targets.topic_l2, strict=True)
        self.engine.topic_l1_from_l2_ = all(l2 for l1, l2 in pairs if l1) and bool(self.engine.topic_l2_classes_)
        y = {name: np.array([classes[name].index(v) if v else -100 for v in values])
             for name, values in label_rows.items()}
        involved = np.zeros((len(docs), len(self.engine.involved_classes_)), dtype=np.float32)
        has_involved = np.array([units is not None for units in targets.involved])
        for row, units in enumerate(targets.involved):
            for unit in units or []:
                involved[row, self.engine.involved_classes_.index(unit)] = 1
        sizes = {k: len(v) for k, v in classes.items()}
        self.engine.heads_ = heads_module(self.engine.encoder_.config.hidden_size, sizes, 0.1)
        device = self.engine._device()
        self.engine.encoder_.to(device)
        self.engine.heads_.to(device)

        ids = self.engine._encode(self.engine._texts(docs))
        rng = np.random.default_rng(self.args.seed)
        perm = rng.permutation(len(docs))
        n_val = round(len(docs) * self.args.validation_fraction) if len(docs) >= 20 else 0
        val, train = perm[:n_val], perm[n_val:]
        steps_per_epoch = math.ceil(len(train) / self.args.batch_size)
        optimizer = torch.optim.AdamW([
            {"params": self.engine.encoder_.parameters(), "lr": self.args.lr_encoder},
            {"params": self.engine.heads_.parameters(), "lr": self.args.lr_head},
        ], weight_decay=0.01)
        total = max(1, steps_per_epoch * self.args.epochs)
        scheduler = get_linear_schedule_with_warmup(optimizer, int(total * self.args.warmup), total)
        ce = torch.nn.CrossEntropyLoss(ignore_index=-100)
        bce = torch.nn.BCEWithLogitsLoss(reduction="none")

        def loss_of(rows: list[int], logits: dict[str, Any]):
            loss = 0.0
            device = next(self.engine.heads_.parameters()).device
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
        if self.args.probe:
            self._fit_probe(self._pooled(ids, train, log), {k: v[train] for k, v in y.items()}, involved[train],
                            has_involved[train])
            val_loss = self._validation_loss(ids, val, loss_of) if len(val) else math.nan
            history.append({"epoch": 0, "stage": "probe", "validation_loss": round(val_loss, 4)})
            log(f"linear probe fitted ({time.perf_counter() - started:.0f}s): validation loss {val_loss:.4f}")
            if self.args.epochs and len(val):
                best, best_state = val_loss, self._snapshot()
        elif not self.args.epochs:
            raise ValueError("epochs=0 needs probe=True: the heads would stay untrained")
        for epoch in range(self.args.epochs):
            self.engine.encoder_.train()
            self.engine.heads_.train()
            # bucket by length, then shuffle the buckets: little padding, random order
            order = sorted(rng.permutation(train).tolist(), key=lambda i: len(ids[i]))
            batches = list(self.engine._batches(ids, order))
            rng.shuffle(batches)
            for step, (rows, input_ids, mask) in enumerate(batches, 1):
                loss = loss_of(rows, self.engine._logits(input_ids, mask))
                loss.backward()
                params = list(self.engine.encoder_.parameters()) + list(self.engine.heads_.parameters())
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                if step % 20 == 0 or step == len(batches):
                    log(f"epoch {epoch + 1}/{self.args.epochs} step {step}/{len(batches)} "
                        f"loss {float(loss.detach()):.4f} ({time.perf_counter() - started:.0f}s)")
            val_loss = self._validation_loss(ids, val, loss_of) if len(val) else float(loss.detach())
            history.append({"epoch": epoch + 1, "validation_loss": round(val_loss, 4)})
            log(f"epoch {epoch + 1}: validation loss {val_loss:.4f}")
            if val_loss < best - 1e-4:
                best, stale, best_state = val_loss, 0, self._snapshot()
            else:
                stale += 1
                if stale > self.args.patience:
                    log("early stopping")
                    break
        if best_state is not None:
            self.engine.encoder_.load_state_dict(best_state[0])
            self.engine.heads_.load_state_dict(best_state[1])
        self.engine.encoder_.eval()
        self.engine.heads_.eval()
        self._calibrate(ids, val if len(val) else train, y, involved, has_involved)
        self.engine.metadata_ = {"engine": self.engine.name, "params": self.engine.get_params(), "history": history,
                                 "torch_version": torch.__version__, "base": str(self.engine.base)}

    def _pooled(self, ids: list[list[int]], rows: np.ndarray,
                log: Callable[[str], None] | None = None) -> np.ndarray:
        """Mean-pooled encoder output of ``rows`` (inference mode), one float32 row each."""
        torch = torch_module()
        started = time.perf_counter()
        self.engine.encoder_.eval()
        subset = [ids[i] for i in rows]
        out = np.zeros((len(subset), self.engine.encoder_.config.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            batches = self.engine._batches(subset, sorted(range(len(subset)), key=lambda i: len(subset[i])))
            for n, (batch_rows, input_ids, mask) in enumerate(batches, 1):
                out[batch_rows] = self.engine._pooled_batch(input_ids, mask).float().cpu().numpy()
                if log and (n % 50 == 0 or n * self.args.batch_size >= len(subset)):
                    log(f"probe: encoded {min(n * self.args.batch_size, len(subset))}/{len(subset)} "
                        f"({time.perf_counter() - started:.0f}s)")
        return out

    def _fit_probe(self, pooled: np.ndarray, y: dict[str, np.ndarray], involved: np.ndarray,
                   has_involved: np.ndarray) -> None:
        """Set every head to logistic regressions fitted on the frozen pooled output (the linear probe)."""
        torch = torch_module()
        heads = self.engine.heads_.heads
        fitted: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name in ("topic_l1", "topic_l2", "lead"):
            if name in heads:
                keep = y[name] != -100
                fitted[name] = softmax_probe(pooled[keep], y[name][keep], heads[name].out_features, self.args.probe_c)
        if "involved" in heads:
            rows = pooled[has_involved]
            columns = [binary_probe(rows, involved[has_involved, j], self.args.probe_c)
                       for j in range(involved.shape[1])]
            fitted["involved"] = (np.stack([w for w, _ in columns]), np.array([b for _, b in columns]))
        with torch.no_grad():
            for name, (weight, bias) in fitted.items():
                heads[name].weight.copy_(torch.as_tensor(weight, dtype=heads[name].weight.dtype))
                heads[name].bias.copy_(torch.as_tensor(bias, dtype=heads[name].bias.dtype))

    def _validation_loss(self, ids: list[list[int]], rows: np.ndarray, loss_of: Callable[..., Any]) -> float:
        torch = torch_module()
        self.engine.encoder_.eval()
        self.engine.heads_.eval()
        total, n = 0.0, 0
        with torch.no_grad():
            order = sorted(rows.tolist(), key=lambda i: len(ids[i]))
            for batch_rows, input_ids, mask in self.engine._batches(ids, order):
                total += float(loss_of(batch_rows, self.engine._logits(input_ids, mask))) * len(batch_rows)
                n += len(batch_rows)
        return total / max(n, 1)

    def _calibrate(self, ids: list[list[int]], rows: np.ndarray, y: dict[str, np.ndarray], involved: np.ndarray,
                   has_involved: np.ndarray) -> None:
        logits = self.engine._raw_logits([ids[i] for i in rows])
        self.engine.temperatures_ = {}
        for name in ("topic_l1", "topic_l2", "lead"):
            target = y[name][rows]
            keep = target != -100
            self.engine.temperatures_[name] = (fit_temperature(logits[name][keep], target[keep])
                                               if name in logits and keep.sum() >= 5 else 1.0)
        self.engine.platt_ = PlattScaler()
        keep = has_involved[rows]
        if "involved" in logits and keep.any():
            self.engine.platt_.fit(logits["involved"][keep], involved[rows][keep].astype(int))
        else:
            self.engine.platt_.coef_, self.engine.platt_.intercept_ = 1.0, 0.0

    def _snapshot(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Copies of the encoder's and the heads' weights (the best epoch so far)."""
        return ({k: v.detach().clone() for k, v in self.engine.encoder_.state_dict().items()},
                {k: v.detach().clone() for k, v in self.engine.heads_.state_dict().items()})

