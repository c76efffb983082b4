"""BERT engine: a mean-pooled encoder (any local Hugging Face BERT-family checkpoint) with a multi-task head
(level-1 topic, level-2 topic, lead unit, involved units), fine-tuned on CPU-friendly settings and calibrated
on a held-out validation split. The training loop is ``bert_trainer``, the ONNX export ``bert_onnx``."""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from sqmy.models.base import Doc, Engine, FitProgress, HeadProbabilities, Targets, check_docs, hierarchical_l2
from sqmy.models.bert_layers import (
    FastTokenizer,
    heads_module,
    l1_logits_from_l2,
    load_encoder,
    mean_pool,
    numpy_batches,
    padded_batches,
    physical_cores,
    torch_module,
)
from sqmy.models.calibration import PlattScaler, softmax_t
from sqmy.models.metadata import read_metadata, write_metadata

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a model hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ENCODER_DIR = "encoder"
HEADS_NAME = "heads.pt"
SERVING_NAME = "serving.json"  # what serving the int8 graph needs besides it: parameters, classes, calibration
HEAD_NAMES = ("topic_l1", "topic_l2", "lead", "involved")




# Serving batches: up to 64 items or 4,096 padded tokens, whichever comes first (sorted by length: short items go
# many to a batch, long ones few; docs/BENCHMARKS.md "BERT path").
INFERENCE_ROWS = 64
INFERENCE_TOKENS = 4096
# The int8 graph reads items of similar length together and never pads a batch by more than a tenth: on these AVX2
# cores batching saves no CPU (0.53-0.55 CPU-s per 1,000 real tokens one by one, 0.57-0.74 in sorted batches) while
# padding costs in full (a server's mixed BERT items padded to the longest: 2.4x), and an item's answer no longer
# moves with the lengths of the requests that shared its batch (activations are quantised per call, padding
# included). Up to 16 rows, as the probe's features were computed at training: one item per call moved BERT's
# answers away from what its heads were fitted on (-1 point of macro-F1 alone). docs/BENCHMARKS.md "round 6".
ONNX_ROWS = 16
ONNX_PADDING = 0.1
TOKENIZER_LIMIT = 512  # what head-and-tail truncation reads of an item before it cuts out the middle
ONNX_TOKENS: int | None = None  # padded tokens per call: no limit beyond the rows (bench/bert_batching.py sets 4,096)

class BertEngine(Engine):
    """Fine-tuned encoder with calibrated multi-task heads.

    Parameters
    ----------
    base : str, default=""
        Path of a local Hugging Face checkpoint (bert-base-chinese, chinese-roberta-wwm-ext, rbt3, or the
        e5-small built by ``sqmy base-encoder``).
    max_length : int, default=256
        Tokens per item: the title first, then the head of the text.
    tail_tokens : int, default=0
        Of a longer item's ``max_length`` tokens, this many come from its end (where a message often says what it
        asks for), the rest from its head; 0 keeps the head alone.
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

    def __init__(self, *, base: str = "", max_length: int = 256, tail_tokens: int = 0, n_layers: int | None = None,
                 epochs: int = 4,
                 batch_size: int = 16, lr_encoder: float = 1e-4, lr_head: float = 3e-3, warmup: float = 0.1,
                 patience: int = 1, validation_fraction: float = 0.1, prefix: str = "passage: ",
                 probe: bool = True, probe_c: float = 4.0, seed: int = 0, device: str = "auto") -> None:
        self.base = base
        self.max_length = max_length
        self.tail_tokens = tail_tokens
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
        torch = torch_module()
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    # ------------------------------------------------------------------ text
    def _texts(self, docs: Sequence[Doc]) -> list[str]:
        return [f"{self.prefix}{d.title.strip()}。{d.text.strip()}" if d.title.strip() else f"{self.prefix}{d.text}"
                for d in docs]

    def _encode(self, texts: Sequence[str]) -> list[list[int]]:
        tail = min(getattr(self, "tail_tokens", 0), self.max_length - 2)
        if tail <= 0:
            return self.tokenizer_(list(texts), truncation=True, max_length=self.max_length)["input_ids"]
        ids = self.tokenizer_(list(texts), truncation=True, max_length=TOKENIZER_LIMIT)["input_ids"]
        return [x if len(x) <= self.max_length else x[:self.max_length - tail] + x[-tail:] for x in ids]

    def _batches(self, ids: list[list[int]], order: Sequence[int]) -> Iterator[tuple[list[int], Any, Any]]:
        return padded_batches(ids, order, self.batch_size, self.tokenizer_.pad_token_id)

    def _pooled_batch(self, input_ids, mask):
        """The encoder's mean-pooled output for one padded batch, on the model's device."""
        device = next(self.heads_.parameters()).device
        input_ids, mask = input_ids.to(device), mask.to(device)
        hidden = self.encoder_(input_ids=input_ids, attention_mask=mask).last_hidden_state
        return mean_pool(hidden, mask)

    def _logits(self, input_ids, mask):
        return self.heads_(self._pooled_batch(input_ids, mask))

    def _raw_logits(self, ids: list[list[int]]) -> dict[str, np.ndarray]:
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out: dict[str, np.ndarray] = {}
        runner = getattr(self, "onnx_", None)
        if runner is not None:  # the int8 graph (served, and evaluated at training as served): no torch
            for rows, input_ids, mask in numpy_batches(ids, order, ONNX_ROWS, self.tokenizer_.pad_token_id,
                                                       max_tokens=ONNX_TOKENS, max_padding=ONNX_PADDING):
                for name, value in runner(input_ids, mask).items():
                    out.setdefault(name, np.zeros((len(ids), value.shape[1]), dtype=np.float32))[rows] = value
            return self._with_l1_from_l2(out)
        torch = torch_module()
        with torch.inference_mode():
            batches = padded_batches(ids, order, INFERENCE_ROWS, self.tokenizer_.pad_token_id,
                                     max_tokens=INFERENCE_TOKENS)
            for rows, input_ids, mask in batches:
                for name, value in self._logits(input_ids, mask).items():
                    out.setdefault(name, np.zeros((len(ids), value.shape[1]), dtype=np.float32))[rows] = \
                        value.float().cpu().numpy()
        return self._with_l1_from_l2(out)

    def _with_l1_from_l2(self, out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if getattr(self, "topic_l1_from_l2_", False) and "topic_l2" in out:
            out["topic_l1"] = l1_logits_from_l2(out["topic_l2"], self.topic_l2_classes_, self.topic_l1_classes_)
        return out

    # ------------------------------------------------------------------- fit
    def fit(self, docs: Sequence[Doc], targets: Targets, log: Callable[[str], None] | None = None, *,
            progress: FitProgress | None = None, checkpoint_dir: Path | None = None, **_: Any) -> BertEngine:
        """Load the base encoder, fit the heads (probe, then ``epochs`` of fine-tuning) and calibrate them; the
        loop itself lives in ``sqmy.models.bert_trainer`` (``progress`` and ``checkpoint_dir``: see there)."""
        from sqmy.models.bert_trainer import BertTrainer, TrainingArguments

        BertTrainer(self, TrainingArguments.from_engine(self), progress=progress,
                    checkpoint_dir=checkpoint_dir).train(check_docs(docs), targets, log)
        return self

    # --------------------------------------------------------------- predict
    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "heads_") or hasattr(self, "onnx_")

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            from sklearn.utils.validation import check_is_fitted

            check_is_fitted(self)  # raises scikit-learn's NotFittedError

    def predict_proba(self, docs: Sequence[Doc]) -> HeadProbabilities:
        self._check_fitted()
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
        self._check_fitted()
        return self._raw_logits(self._encode(self._texts(check_docs(docs))))

    # ------------------------------------------------------------ save/load
    def save(self, path: Path) -> Path:
        torch = torch_module()
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
        self._write_serving_info(path)
        write_metadata(path, self.metadata_)
        return path

    def _write_serving_info(self, path: Path) -> None:
        """``serving.json``: what serving the int8 graph needs besides it, readable without torch."""
        info = {"params": self.get_params(), "topic_l1_from_l2": bool(self.topic_l1_from_l2_),
                "classes": {"topic_l1": self.topic_l1_classes_, "topic_l2": self.topic_l2_classes_,
                            "lead": self.lead_classes_, "involved": self.involved_classes_},
                "temperatures": {k: float(v) for k, v in self.temperatures_.items()},
                "platt": [np.asarray(self.platt_.coef_).tolist(), np.asarray(self.platt_.intercept_).tolist()]}
        (path / f"{SERVING_NAME}.tmp").write_bytes(orjson.dumps(info))
        (path / f"{SERVING_NAME}.tmp").replace(path / SERVING_NAME)

    @classmethod
    def load(cls, path: Path, *, runtime: str = "auto") -> BertEngine:
        """Load a saved engine. ``runtime="auto"`` serves the int8 ONNX graph with onnxruntime when the
        artifact has one (the fast CPU path: neither torch nor transformers is imported, the fp32 encoder is not
        read) and torch otherwise; ``"torch"`` or ``"onnx"`` force one, with the torch modules loaded.
        ``SQMY_BERT_MAX_LENGTH`` / ``SQMY_BERT_TAIL_TOKENS``, when set, replace the model's own token budget."""
        engine = cls._load(Path(path), runtime)
        engine._serving_overrides()
        return engine

    @classmethod
    def _load(cls, path: Path, runtime: str) -> BertEngine:
        from sqmy.models.bert_onnx import INT8_NAME

        if runtime == "auto" and (path / INT8_NAME).is_file() and not Path("/proc/driver/nvidia/version").exists():
            if (path / SERVING_NAME).is_file():
                return cls._load_int8(path)
            engine = cls._load(path, "onnx")  # a model saved before serving.json: write it for next time
            with contextlib.suppress(OSError):  # a read-only registry keeps loading the slow way
                engine._write_serving_info(path)
            return engine
        torch = torch_module()
        from transformers import AutoModel, AutoTokenizer

        saved = torch.load(path / HEADS_NAME, weights_only=False, map_location="cpu")
        engine = cls._from_info(saved, path)
        engine.tokenizer_ = AutoTokenizer.from_pretrained(path / ENCODER_DIR)
        device = engine._device()
        engine.encoder_ = load_encoder(AutoModel, path / ENCODER_DIR).float().eval().to(device)
        engine.heads_ = heads_module(engine.encoder_.config.hidden_size,
                                     {k: len(v) for k, v in saved["classes"].items()}, 0.1)
        engine.heads_.load_state_dict(saved["state"])
        engine.heads_.eval().to(device)
        from sqmy.models.bert_onnx import OnnxRunner

        if runtime == "onnx" or (runtime == "auto" and (path / INT8_NAME).is_file() and device.type == "cpu"):
            engine.onnx_ = OnnxRunner(path / INT8_NAME, threads=torch.get_num_threads())
            engine.metadata_["runtime"] = "onnxruntime-int8"
        return engine

    @classmethod
    def _from_info(cls, info: dict[str, Any], path: Path) -> BertEngine:
        """An engine with the parameters, classes, temperatures and calibration of ``info`` (``heads.pt``'s dict or
        ``serving.json``'s, which hold the same keys) and the metadata saved at ``path``; no encoder yet."""
        engine = cls(**info["params"])
        classes = info["classes"]
        engine.topic_l1_classes_, engine.topic_l2_classes_ = classes["topic_l1"], classes["topic_l2"]
        engine.lead_classes_, engine.involved_classes_ = classes["lead"], classes["involved"]
        engine.temperatures_ = {k: float(v) for k, v in info["temperatures"].items()}
        engine.topic_l1_from_l2_ = bool(info.get("topic_l1_from_l2", False))  # older artifacts: the level-1 head
        engine.platt_ = PlattScaler()
        engine.platt_.coef_, engine.platt_.intercept_ = (np.asarray(v, dtype=np.float64) for v in info["platt"])
        engine.metadata_ = read_metadata(path)
        return engine

    def with_budget(self, max_length: int, tail_tokens: int) -> BertEngine:
        """This engine reading at most ``max_length`` tokens per item, ``tail_tokens`` of them from a longer item's
        end (``auto``'s BERT: ``ensemble_bert_budget``): a view that shares the loaded graph, encoder and heads; the
        engine itself when its own budget is no larger."""
        if max_length >= self.max_length:
            return self
        view = copy.copy(self)
        view.max_length, view.tail_tokens = max_length, tail_tokens
        view.metadata_ = {**self.metadata_, "serving": {"max_length": max_length, "tail_tokens": tail_tokens}}
        return view

    def _serving_overrides(self) -> None:
        """``SQMY_BERT_MAX_LENGTH`` / ``SQMY_BERT_TAIL_TOKENS``, when set, in place of the model's own token budget
        (recorded in ``metadata_["serving"]``)."""
        from sqmy.core.config import get_settings

        settings = get_settings()
        overrides = {k: v for k, v in (("max_length", settings.BERT_MAX_LENGTH),
                                       ("tail_tokens", settings.BERT_TAIL_TOKENS)) if v is not None}
        if overrides:
            self.set_params(**overrides)
            self.metadata_["serving"] = overrides

    @classmethod
    def _load_int8(cls, path: Path) -> BertEngine:
        """The int8 graph with ``serving.json`` and the encoder's ``tokenizer.json``: what serving needs."""
        from sqmy.models.bert_onnx import INT8_NAME, OnnxRunner

        engine = cls._from_info(orjson.loads((path / SERVING_NAME).read_bytes()), path)
        engine.tokenizer_ = FastTokenizer(path / ENCODER_DIR)
        engine.onnx_ = OnnxRunner(path / INT8_NAME, threads=physical_cores())
        engine.metadata_["runtime"] = "onnxruntime-int8"
        return engine
