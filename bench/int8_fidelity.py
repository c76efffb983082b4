"""How far the served int8 BERT graph's answers are from its fp32 graph's, and what the batch an item is computed
in changes (issue #18, round 8). onnxruntime's dynamic quantisation gives every call's activations one scale (the
whole padded batch), so an item's logits move with its batch-mates; a per-token variant of the same graph (each
row of every quantised input gets its own symmetric scale, uint8 around 128) is written beside it to compare.

    .venv/bin/python bench/int8_fidelity.py --model H/models/bert-... [--items 300]

Reads the model's ``model.onnx`` (fp32) and ``model.int8.onnx``, the probe set and the model's ``eval.jsonl``;
writes the per-token graph to a temporary folder. Prints, per graph and cut (one item per call, sorted batches of
16): mean |logit − fp32 logit| of the level-2 head, the share of items whose level-2 answer is the fp32 graph's, and
CPU seconds per 1,000 tokens. Not served: onnxruntime's graph optimiser fuses MatMulInteger → Cast → Mul into
MatMulIntegerToFloat assuming one scale per input, so the row scale is applied by a Mul after the fused node.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROBE = Path(__file__).resolve().parent / "probe" / "taxonomy-probe.jsonl"


def per_token_graph(src: Path, dst: Path) -> int:
    """Write ``src`` with every DynamicQuantizeLinear replaced by a per-row symmetric quantisation; returns their
    number."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    graph.initializer.extend(numpy_helper.from_array(np.array(v, dtype=np.float32), name) for name, v in
                             (("pt_127", 127.0), ("pt_eps", 1e-8), ("pt_128", 128.0), ("pt_0", 0.0),
                              ("pt_255", 255.0), ("pt_one", 1.0)))
    nodes, row_scale = [], {}
    for node in graph.node:
        if node.op_type != "DynamicQuantizeLinear":
            nodes.append(node)
            continue
        x, (quantised, scale, zero_point) = node.input[0], node.output
        p = f"pt{len(row_scale)}_"
        nodes += [helper.make_node("Abs", [x], [p + "abs"]),
                  helper.make_node("ReduceMax", [p + "abs"], [p + "amax"], axes=[-1], keepdims=1),
                  helper.make_node("Max", [p + "amax", "pt_eps"], [p + "amax_eps"]),
                  helper.make_node("Div", [p + "amax_eps", "pt_127"], [scale]),
                  helper.make_node("Div", [x, scale], [p + "scaled"]),
                  helper.make_node("Round", [p + "scaled"], [p + "round"]),
                  helper.make_node("Add", [p + "round", "pt_128"], [p + "shift"]),
                  helper.make_node("Clip", [p + "shift", "pt_0", "pt_255"], [p + "clip"]),
                  helper.make_node("Cast", [p + "clip"], [quantised], to=TensorProto.UINT8)]
        graph.initializer.append(numpy_helper.from_array(np.array(128, dtype=np.uint8), zero_point))
        row_scale[quantised] = scale
    consumers: dict[str, list] = {}
    producer = {o: n for n in nodes for o in n.output}
    for n in nodes:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    for matmul in [n for n in nodes if n.op_type == "MatMulInteger"]:
        scale = row_scale[matmul.input[0]]
        cast = consumers[matmul.output[0]][0]
        mul = consumers[cast.output[0]][0]
        scales_mul = producer[next(x for x in mul.input if x != cast.output[0])]
        scales_mul.input[list(scales_mul.input).index(scale)] = "pt_one"  # the weight's scale alone: fusable
        out = mul.output[0]
        mul.output[0] = f"{out}_before_row_scale"
        nodes.append(helper.make_node("Mul", [mul.output[0], scale], [out]))
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.save(model, str(dst))
    return len(row_scale)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a BERT model folder with model.onnx")
    parser.add_argument("--items", type=int, default=300, help="items of the model's eval.jsonl besides the probe")
    args = parser.parse_args()
    from sqmy.models import load_engine
    from sqmy.models.base import Doc
    from sqmy.models.bert_layers import numpy_batches
    from sqmy.models.bert_onnx import OnnxRunner

    engine = load_engine(args.model)
    rows = [json.loads(line) for line in PROBE.open(encoding="utf-8") if line.strip()]
    rows += [json.loads(line) for line in (args.model / "eval.jsonl").open(encoding="utf-8") if line.strip()][
        :args.items]
    ids = engine._encode(engine._texts([Doc(title=r.get("title") or "", text=r["text"]) for r in rows]))
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    tokens = sum(map(len, ids))
    scratch = Path(tempfile.mkdtemp(prefix="sqmy-int8-"))
    per_token_graph(args.model / "model.int8.onnx", scratch / "model.per-token.onnx")
    graphs = {"fp32": args.model / "model.onnx", "int8 (served)": args.model / "model.int8.onnx",
              "int8 per token": scratch / "model.per-token.onnx"}

    def run(path: Path, rows_per_call: int) -> tuple[np.ndarray, float]:
        runner = OnnxRunner(path, threads=2)
        out = np.zeros((len(ids), len(engine.topic_l2_classes_)), np.float32)
        before = resource.getrusage(resource.RUSAGE_SELF)
        for batch, input_ids, mask in numpy_batches(ids, order, rows_per_call, engine.tokenizer_.pad_token_id):
            out[batch] = runner(input_ids, mask)["topic_l2"]
        after = resource.getrusage(resource.RUSAGE_SELF)
        return out, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime

    reference, _ = run(graphs["fp32"], 1)
    report = []
    for name in ("fp32", "int8 (served)", "int8 per token"):
        for rows_per_call in (1, 16):
            logits, cpu = run(graphs[name], rows_per_call)
            report.append({"graph": name, "rows_per_call": rows_per_call, "items": len(ids),
                           "mean_abs_logit_diff": round(float(np.abs(logits - reference).mean()), 4),
                           "same_level2_answer_as_fp32": round(float((logits.argmax(1) == reference.argmax(1))
                                                                     .mean()), 4),
                           "cpu_s_per_1000_tokens": round(1000 * cpu / tokens, 3)})
            print(json.dumps(report[-1], ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
