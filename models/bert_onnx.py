"""ONNX export of a fine-tuned BERT engine and dynamic int8 quantisation, served by onnxruntime.

bf16 on CPUs without AMX is several times slower than fp32, so CPU serving uses int8 weights instead."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from sqmy.models.bert_layers import mean_pool, torch_module

ONNX_NAME = "model.onnx"
INT8_NAME = "model.int8.onnx"
OPSET = 17


def _wrapper(encoder: Any, heads: Any, order: list[str]) -> Any:
    torch = torch_module()

    class Exported(torch.nn.Module):  # type: ignore[name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.encoder, self.heads = encoder, heads

        def forward(self, input_ids, attention_mask):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            logits = self.heads(mean_pool(hidden, attention_mask))
            return tuple(logits[name] for name in order)

    return Exported().eval()


def export_onnx(encoder: Any, heads: Any, tokenizer: Any, directory: Path, *, quantize: bool = True) -> Path:
    """Write ``model.onnx`` (fp32, opset 17, dynamic batch and length; one output per head, named after it) and
    ``model.int8.onnx`` for an encoder and its heads (``BertEngine.encoder_``, ``.heads_``, ``.tokenizer_``)."""
    torch = torch_module()
    directory = Path(directory)
    encoder.float().cpu().eval()
    heads.cpu().eval()
    order = list(heads.heads.keys())
    dummy = tokenizer(["导出样例"], return_tensors="pt")
    path = directory / ONNX_NAME
    with warnings.catch_warnings():  # the tracer's notes on shape checks that are constant for this graph
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _wrapper(encoder, heads, order), (dummy["input_ids"], dummy["attention_mask"]), str(path),
            input_names=["input_ids", "attention_mask"], output_names=order,
            dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                          **{name: {0: "batch"} for name in order}},
            opset_version=OPSET, dynamo=False,
        )
    if quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # Per-channel scales with 7-bit weights: per-tensor int8 cost the linear probe 2-3 points of macro-F1 on real
        # messages, this costs under 1 at the same speed (docs/BENCHMARKS.md); 7 bits avoid the u8×s8 overflow
        # of CPUs without VNNI, which onnxruntime recommends for per-channel weights.
        quantize_dynamic(str(path), str(directory / INT8_NAME), weight_type=QuantType.QInt8, per_channel=True,
                         reduce_range=True)
    return path


def export_pooled_onnx(encoder: Any, tokenizer: Any, directory: Path) -> Path:
    """The int8 graph of an encoder's mean-pooled output (output ``pooled``) in ``directory``, exported once: its
    weights are quantised exactly as in the served graph, so a probe fitted on its output sees served features.
    Written beside and renamed when complete, so a killed export is redone, not loaded half-written."""
    directory = Path(directory)
    if (directory / INT8_NAME).is_file():
        return directory / INT8_NAME
    nn = torch_module().nn

    class Pooled(nn.Module):  # type: ignore[name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.heads = nn.ModuleDict({"pooled": nn.Identity()})

        def forward(self, pooled):
            return {"pooled": pooled}

    staging = directory.with_name(f".{directory.name}-staging")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    export_onnx(encoder, Pooled(), tokenizer, staging)
    (staging / ONNX_NAME).unlink()
    if directory.exists():
        shutil.rmtree(directory)
    staging.rename(directory)
    return directory / INT8_NAME


class OnnxRunner:
    """Runs the exported graph; returns the same per-head logits as the torch model."""

    def __init__(self, path: Path, *, threads: int | None = None) -> None:
        import onnxruntime as ort

        from sqmy.core.config import get_settings

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        if not get_settings().ORT_SPINNING:  # idle workers sleep instead of busy-waiting on the shared cores
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.names = [o.name for o in self.session.get_outputs()]

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> dict[str, np.ndarray]:
        outputs = self.session.run(None, {"input_ids": input_ids.astype(np.int64),
                                          "attention_mask": attention_mask.astype(np.int64)})
        return dict(zip(self.names, outputs, strict=True))


def pooled_embeddings(runner: OnnxRunner, ids: list[list[int]], pad_id: int, *, batch_size: int,
                      max_tokens: int | None = None) -> np.ndarray:
    """The ``pooled`` output of a pooled graph (``export_pooled_onnx``) for every tokenised text, one ``float32``
    row each in the order of ``ids`` (not normalised): texts sorted by length and padded per batch
    (``numpy_batches``: at most ``batch_size`` rows, and ``max_tokens`` padded tokens when given)."""
    from sqmy.models.bert_layers import numpy_batches

    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out = np.zeros((len(ids), 0), dtype=np.float32)
    for rows, input_ids, mask in numpy_batches(ids, order, batch_size, pad_id, max_tokens=max_tokens):
        pooled = runner(input_ids, mask)["pooled"]
        if out.shape[1] == 0:
            out = np.zeros((len(ids), pooled.shape[1]), dtype=np.float32)
        out[rows] = pooled
    return out
