"""Training of the BERT engine, apart from the model (as setfit splits model and trainer): a linear probe of every head
on the frozen encoder, then optional fine-tuning with early stopping, then calibration on the validation split.

On a CPU the probe's features come from the int8 ONNX graph of the frozen encoder: what the served model computes,
about 1.5× faster than torch fp32 on 2 cores. Progress is reported in work units (one item through the encoder ≈ 1;
a training step ≈ 3 per item) with the stage; with a ``checkpoint_dir`` the encoded features (in chunks) and every
finished epoch are kept there, so that a killed run resumes where it stopped."""

from __future__ import annotations

import hashlib
import math
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sqmy.models.base import Doc, FitProgress, Targets
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



FEATURE_CHUNK = 512  # items encoded (and cached) together, in length order
# Units: one item through the int8 encoder (the probe's features) = 1. A torch fp32 forward pass costs ~1.5 of them
# on a CPU, a training step (forward + backward) ~3 forward passes.
FORWARD_UNITS = 1.5
STEP_UNITS = 3 * FORWARD_UNITS
PROBE_FIT_UNITS = 0.2  # the probe's logistic regressions, per training item (57 s for 11,954 items on 2 cores)
FEATURES_STAGE = "编码语料（线性探针）"


class Checkpoint:
    """What a killed training run leaves for the next one: feature chunks and the last finished epoch, valid only
    for the same base encoder, data, labels and arguments (``key``; anything else found there is discarded)."""

    def __init__(self, directory: Path, key: str) -> None:
        self.directory = Path(directory)
        marker = self.directory / "key.txt"
        if self.directory.exists() and not (marker.is_file() and marker.read_text() == key):
            shutil.rmtree(self.directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        marker.write_text(key)

    def load_chunk(self, index: int, rows: int) -> np.ndarray | None:
        path = self.directory / f"features-{index:05d}.npy"
        try:
            value = np.load(path)
        except (OSError, ValueError):
            return None
        return value if len(value) == rows else None

    def save_chunk(self, index: int, value: np.ndarray) -> None:
        path = self.directory / f"features-{index:05d}.npy"
        tmp = self.directory / f".features-{index:05d}.tmp.npy"
        np.save(tmp, value)
        tmp.replace(path)

    def save(self, name: str, state: dict[str, Any]) -> None:
        torch = torch_module()
        tmp = self.directory / f".{name}.tmp"
        torch.save(state, tmp)
        tmp.replace(self.directory / name)

    def load(self, name: str) -> dict[str, Any] | None:
        path = self.directory / name
        if not path.is_file():
            return None
        try:
            return torch_module().load(path, weights_only=False, map_location="cpu")
        except Exception:  # a file cut short by a kill: start that part again
            return None


def checkpoint_key(args: TrainingArguments, engine: BertEngine, ids: list[list[int]], labels: Sequence[Any]) -> str:
    """Fingerprint of everything a checkpoint depends on."""
    digest = hashlib.sha256()
    base = Path(engine.base)
    for name in ("config.json", "model.safetensors", "pytorch_model.bin"):
        if (base / name).is_file():
            stat = (base / name).stat()
            digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    digest.update(repr((args, engine.n_layers, engine.max_length, engine.prefix)).encode())
    digest.update(np.array([len(i) for i in ids], dtype=np.int64).tobytes())
    digest.update(np.concatenate([np.asarray(i, dtype=np.int64) for i in ids] or [np.zeros(0, dtype=np.int64)])
                  .tobytes())
    digest.update(repr(labels).encode())
    return digest.hexdigest()


class BertTrainer:
    """Fits a ``BertEngine``'s encoder and heads in place."""

    def __init__(self, engine: BertEngine, args: TrainingArguments, *, progress: FitProgress | None = None,
                 checkpoint_dir: Path | None = None) -> None:
        self.engine, self.args = engine, args
        self.progress = progress or (lambda _stage, _done, _total: None)
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.done, self.total = 0.0, 1.0
        self.feature_runtime: str | None = None  # what computed the probe's features (None: all from the checkpoint)

    def _report(self, stage: str, advance: float = 0.0) -> None:
        self.done += advance
        self.progress(stage, self.done, self.total)

    def _load_base(self) -> None:
        from transformers import AutoModel, AutoTokenizer

        if not self.engine.base or not (Path(self.engine.base) / "config.json").is_file():
            raise FileNotFoundError(f"base encoder {self.engine.base!r} is not a local Hugging Face checkpoint "
                                    "(build one with `sqmy base-encoder`)")
        self.engine.tokenizer_ = AutoTokenizer.from_pretrained(self.engine.base)
        self.engine.encoder_ = load_encoder(AutoModel, self.engine.base)
        if self.engine.n_layers:
            self.engine.encoder_.encoder.layer = self.engine.encoder_.encoder.layer[: self.engine.n_layers]
            self.engine.encoder_.config.num_hidden_layers = self.engine.n_layers

    def _label_arrays(self, docs: Sequence[Doc], targets: Targets) -> tuple[dict[str, np.ndarray], np.ndarray,
                                                                              np.ndarray]:
        """The engine's class lists, and the targets as index arrays (-100: no label) and a multi-hot matrix."""
        engine = self.engine
        engine.topic_l1_classes_ = sorted({v for v in targets.topic_l1 if v})
        engine.topic_l2_classes_ = sorted({v for v in targets.topic_l2 if v})
        engine.lead_classes_ = sorted({v for v in targets.lead if v})
        engine.involved_classes_ = sorted({u for units in targets.involved if units for u in units})
        classes = {"topic_l1": engine.topic_l1_classes_, "topic_l2": engine.topic_l2_classes_,
                   "lead": engine.lead_classes_, "involved": engine.involved_classes_}
        # Level 1 is read off the level-2 head when every row with a topic has its level 2 (a linear head
        # separates 117 narrow level-2 classes better than 15 broad level-1 ones); else the level-1 head answers.
        pairs = zip(targets.topic_l1, targets.topic_l2, strict=True)
        engine.topic_l1_from_l2_ = all(l2 for l1, l2 in pairs if l1) and bool(engine.topic_l2_classes_)
        label_rows = {"topic_l1": targets.topic_l1, "topic_l2": targets.topic_l2, "lead": targets.lead}
        index = {name: {c: i for i, c in enumerate(classes[name])} for name in label_rows}
        y = {name: np.array([index[name][v] if v else -100 for v in values], dtype=np.int64)
             for name, values in label_rows.items()}
        involved = np.zeros((len(docs), len(engine.involved_classes_)), dtype=np.float32)
        has_involved = np.array([units is not None for units in targets.involved], dtype=bool)
        unit_index = {u: i for i, u in enumerate(engine.involved_classes_)}
        for row, units in enumerate(targets.involved):
            for unit in units or []:
                involved[row, unit_index[unit]] = 1
        engine.heads_ = heads_module(engine.encoder_.config.hidden_size, {k: len(v) for k, v in classes.items()}, 0.1)
        return y, involved, has_involved

    def train(self, docs: Sequence[Doc], targets: Targets, log: Callable[[str], None] | None = None) -> None:
        """Fit the engine on ``docs`` in place (the engine's ``fit``)."""
        torch = torch_module()
        from transformers import get_linear_schedule_with_warmup

        log = log or (lambda _message: None)
        random.seed(self.args.seed)
        np.random.seed(self.args.seed)
        torch.manual_seed(self.args.seed)
        self._load_base()
        y, involved, has_involved = self._label_arrays(docs, targets)
        device = self.engine._device()
        self.engine.encoder_.to(device)
        self.engine.heads_.to(device)

        ids = self.engine._encode(self.engine._texts(docs))
        rng = np.random.default_rng(self.args.seed)
        perm = rng.permutation(len(docs))
        n_val = round(len(docs) * self.args.validation_fraction) if len(docs) >= 20 else 0
        val, train = perm[:n_val], perm[n_val:]
        if not self.args.probe and not self.args.epochs:
            raise ValueError("epochs=0 needs probe=True: the heads would stay untrained")
        checkpoint = (Checkpoint(self.checkpoint_dir, checkpoint_key(self.args, self.engine, ids, [y, involved.sum()]))
                      if self.checkpoint_dir else None)
        probe_units = (len(ids) + PROBE_FIT_UNITS * len(train)) if self.args.probe else 0.0
        epoch_units = STEP_UNITS * len(train) + FORWARD_UNITS * len(val)
        self.total = (probe_units + self.args.epochs * epoch_units
                      + (FORWARD_UNITS * len(val) if self.args.epochs else 0)) or 1.0
        steps_per_epoch = math.ceil(len(train) / self.args.batch_size)
        optimizer = torch.optim.AdamW([
            {"params": self.engine.encoder_.parameters(), "lr": self.args.lr_encoder},
            {"params": self.engine.heads_.parameters(), "lr": self.args.lr_head},
        ], weight_decay=0.01)
        total = max(1, steps_per_epoch * self.args.epochs)
        scheduler = get_linear_schedule_with_warmup(optimizer, int(total * self.args.warmup), total)
        ce = torch.nn.CrossEntropyLoss(ignore_index=-100)
        bce = torch.nn.BCEWithLogitsLoss(reduction="none")

        def loss_of(rows: Any, logits: dict[str, Any]):
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

        best, best_state, stale, history, first_epoch, stopped = math.inf, None, 0, [], 0, False
        features: np.ndarray | None = None
        started = time.perf_counter()
        resumed = checkpoint.load("epoch.pt") if checkpoint and self.args.epochs else None
        if resumed is not None:
            self.engine.encoder_.load_state_dict(resumed["encoder"])
            self.engine.heads_.load_state_dict(resumed["heads"])
            optimizer.load_state_dict(resumed["optimizer"])
            scheduler.load_state_dict(resumed["scheduler"])
            rng.bit_generator.state = resumed["rng"]
            torch.set_rng_state(resumed["torch_rng"])
            best, stale, history = resumed["best"], resumed["stale"], resumed["history"]
            first_epoch, stopped = resumed["epoch"], resumed["stopped"]
            saved_best = checkpoint.load("best.pt") if checkpoint else None
            best_state = (saved_best["encoder"], saved_best["heads"]) if saved_best else self._snapshot()
            self.done = probe_units + first_epoch * epoch_units
            log(f"resuming after epoch {first_epoch} from the checkpoint")
        elif self.args.probe:
            features = self._features(ids, checkpoint, log)
            self._report("训练线性探针")
            self._fit_probe(features[train], {k: v[train] for k, v in y.items()}, involved[train], has_involved[train])
            self._report("训练线性探针", PROBE_FIT_UNITS * len(train))
            val_loss = self._feature_loss(features, val, loss_of) if len(val) else math.nan
            history.append({"epoch": 0, "stage": "probe", "validation_loss": round(val_loss, 4)})
            log(f"linear probe fitted ({time.perf_counter() - started:.0f}s): validation loss {val_loss:.4f}")
            if self.args.epochs and len(val):
                best, best_state = val_loss, self._snapshot()
                if checkpoint:
                    checkpoint.save("best.pt", {"encoder": best_state[0], "heads": best_state[1]})
        for epoch in range(first_epoch, 0 if stopped else self.args.epochs):
            stage = f"微调第 {epoch + 1}/{self.args.epochs} 轮"
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
                self._report(stage, STEP_UNITS * len(rows))
                if step % 20 == 0 or step == len(batches):
                    log(f"epoch {epoch + 1}/{self.args.epochs} step {step}/{len(batches)} "
                        f"loss {float(loss.detach()):.4f} ({time.perf_counter() - started:.0f}s)")
            val_loss = self._validation_loss(ids, val, loss_of) if len(val) else float(loss.detach())
            self._report(stage, FORWARD_UNITS * len(val))
            history.append({"epoch": epoch + 1, "validation_loss": round(val_loss, 4)})
            log(f"epoch {epoch + 1}: validation loss {val_loss:.4f}")
            if val_loss < best - 1e-4:
                best, stale, best_state = val_loss, 0, self._snapshot()
                if checkpoint:
                    checkpoint.save("best.pt", {"encoder": best_state[0], "heads": best_state[1]})
            else:
                stale += 1
                stopped = stale > self.args.patience
            if checkpoint:
                checkpoint.save("epoch.pt", {
                    "epoch": epoch + 1, "stopped": stopped, "encoder": self.engine.encoder_.state_dict(),
                    "heads": self.engine.heads_.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "rng": rng.bit_generator.state,
                    "torch_rng": torch.get_rng_state(), "best": best, "stale": stale, "history": history})
            if stopped:
                log("early stopping")
                break
        if best_state is not None:
            self.engine.encoder_.load_state_dict(best_state[0])
            self.engine.heads_.load_state_dict(best_state[1])
        self.engine.encoder_.eval()
        self.engine.heads_.eval()
        calibration_rows = val if len(val) else train
        self._report("校准置信度")
        if features is not None and not self.args.epochs:  # the probe alone: the features are what is served
            logits = self._feature_logits(features[calibration_rows])
        else:
            logits = self.engine._raw_logits([ids[i] for i in calibration_rows])
        self._calibrate(logits, calibration_rows, y, involved, has_involved)
        self._report("校准置信度", FORWARD_UNITS * len(val) if self.args.epochs else 0)
        self.engine.metadata_ = {"engine": self.engine.name, "params": self.engine.get_params(), "history": history,
                                 "torch_version": torch.__version__, "base": str(self.engine.base),
                                 "probe_features": self.feature_runtime}

    # ---- the probe's features ------------------------------------------------------------------------------
    def _feature_encoder(self, checkpoint: Checkpoint | None) -> Callable[[Any, Any], np.ndarray]:
        """How to encode one padded batch into pooled vectors: the frozen encoder's int8 ONNX graph on a CPU
        (what the served model computes, ~1.5× faster than torch fp32), torch otherwise."""
        torch = torch_module()
        if self.engine._device().type == "cpu":
            from sqmy.models.bert_onnx import OnnxRunner, export_pooled_onnx

            scratch = checkpoint.directory if checkpoint else Path(tempfile.mkdtemp(prefix="sqmy-probe-"))
            path = export_pooled_onnx(self.engine.encoder_, self.engine.tokenizer_, scratch / "onnx")
            runner = OnnxRunner(path, threads=torch.get_num_threads())
            self.feature_runtime = "onnxruntime-int8"
            return lambda input_ids, mask: runner(input_ids.numpy(), mask.numpy())["pooled"]

        def encode(input_ids: Any, mask: Any) -> np.ndarray:
            with torch.inference_mode():
                return self.engine._pooled_batch(input_ids, mask).float().cpu().numpy()

        self.feature_runtime = "torch"
        return encode

    def _features(self, ids: list[list[int]], checkpoint: Checkpoint | None,
                  log: Callable[[str], None]) -> np.ndarray:
        """Mean-pooled output of the frozen encoder for every item, one float32 row each (chunks of similar
        length, kept in the checkpoint as they finish)."""
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        # progress by tokens (an item of average length = 1 unit): short items come first, so counting items
        # would promise too early an end
        lengths = np.array([len(i) for i in ids], dtype=np.float64)
        unit = max(float(lengths.mean()), 1.0) if len(ids) else 1.0
        out = np.zeros((len(ids), self.engine.encoder_.config.hidden_size), dtype=np.float32)
        encode: Callable[[Any, Any], np.ndarray] | None = None
        started, reused = time.perf_counter(), 0
        for index, start in enumerate(range(0, len(order), FEATURE_CHUNK)):
            rows = order[start:start + FEATURE_CHUNK]
            chunk = checkpoint.load_chunk(index, len(rows)) if checkpoint else None
            if chunk is None:
                encode = encode or self._feature_encoder(checkpoint)
                chunk = np.zeros((len(rows), out.shape[1]), dtype=np.float32)
                for batch_rows, input_ids, mask in self.engine._batches([ids[i] for i in rows], range(len(rows))):
                    chunk[batch_rows] = encode(input_ids, mask)
                    self._report(FEATURES_STAGE, lengths[[rows[r] for r in batch_rows]].sum() / unit)
                if checkpoint:
                    checkpoint.save_chunk(index, chunk)
            else:
                reused += len(rows)
                self._report(FEATURES_STAGE, lengths[rows].sum() / unit)
            out[rows] = chunk
            log(f"probe: encoded {min(start + FEATURE_CHUNK, len(order))}/{len(order)} "
                f"({time.perf_counter() - started:.0f}s)")
        if reused:
            log(f"probe: {reused}/{len(order)} items' features reused from the checkpoint")
        return out

    def _feature_logits(self, pooled: np.ndarray) -> dict[str, np.ndarray]:
        """Every head's logits on pooled features (level 1 read off level 2 where the engine does so)."""
        torch = torch_module()
        from sqmy.models.bert_layers import l1_logits_from_l2

        self.engine.heads_.eval()
        device = next(self.engine.heads_.parameters()).device
        with torch.inference_mode():
            logits = self.engine.heads_(torch.as_tensor(pooled, device=device))
        out = {name: value.float().cpu().numpy() for name, value in logits.items()}
        if self.engine.topic_l1_from_l2_ and "topic_l2" in out:
            out["topic_l1"] = l1_logits_from_l2(out["topic_l2"], self.engine.topic_l2_classes_,
                                                self.engine.topic_l1_classes_)
        return out

    def _feature_loss(self, features: np.ndarray, rows: np.ndarray, loss_of: Callable[..., Any]) -> float:
        torch = torch_module()
        self.engine.heads_.eval()
        device = next(self.engine.heads_.parameters()).device
        with torch.no_grad():
            return float(loss_of(rows, self.engine.heads_(torch.as_tensor(features[rows], device=device))))

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

    def _calibrate(self, logits: dict[str, np.ndarray], rows: np.ndarray, y: dict[str, np.ndarray],
                   involved: np.ndarray, has_involved: np.ndarray) -> None:
        """Temperatures of the softmax heads and a Platt scaler of the unit head, on ``rows``' ``logits``."""
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

