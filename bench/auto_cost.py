"""What ``auto`` (the TF-IDF + BERT ensemble with its cascade) costs in BERT work and gives in accuracy, for several
BERT variants and cascade thresholds at once: each variant's BERT reads every item of every set once (its CPU time
and tokens counted), then ``auto`` is scored as ``bench/generalisation.py`` scores it (same ``score``: level-1
macro-F1, lead top-1, per genre and per class) for every threshold, BERT's answers taken from that one pass.

A variant is a home whose promoted models are TF-IDF + BERT, with optional serving overrides after a colon:
``NAME=HOME[:max_length=128][:truncation=head_tail]``. BERT tokens per item are the tokens of the items the
cascade sends to BERT, divided by all items (what an ``auto`` server or ``sqmy batch`` pays, per item).

    SQMY_SIMILAR=off .venv/bin/python bench/auto_cost.py --variant base=/tmp/h --variant t128=/tmp/h:max_length=128 \\
        [--thresholds stored 0.6 0.67 0.8 1] [--out bench/out/auto_cost.json]

(Answers of the one pass can differ in the last digits from a server's, whose batches group other items: the int8
graph quantises activations per call.)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from bench.common import print_report
from bench.generalisation import SETS, _rows, score
from sqmy.app.knowledge import DirectoryKnowledge
from sqmy.app.policy import RoutingPolicy
from sqmy.app.reload import load_current_engines
from sqmy.app.routing import Router
from sqmy.core.config import Settings
from sqmy.models import ModelRegistry
from sqmy.models.base import Doc, HeadProbabilities
from sqmy.models.bert import BertEngine
from sqmy.models.ensemble import EnsembleEngine

HEADS = ("topic_l1", "topic_l2", "lead", "involved")


class Memo:
    """BERT's answers per document, computed once for a whole set (``prime``), then served to the ensemble."""

    def __init__(self, bert: BertEngine) -> None:
        self.bert = bert
        self.rows: dict[tuple[str, str], dict[str, np.ndarray]] = {}
        self.tokens: dict[tuple[str, str], int] = {}
        self.cpu_s, self.pass_tokens = 0.0, 0
        self.read_tokens, self.read_items = 0, 0
        self.original = bert.predict_proba

    @staticmethod
    def key(doc: Doc) -> tuple[str, str]:
        return doc.title, doc.text

    def prime(self, docs: Sequence[Doc]) -> None:
        new = list({self.key(d): d for d in docs if self.key(d) not in self.rows}.values())
        if not new:
            return
        ids = self.bert._encode(self.bert._texts(new))
        started = time.process_time()
        probs = self.original(new)
        self.cpu_s += time.process_time() - started
        self.pass_tokens += sum(len(x) for x in ids)
        for n, doc in enumerate(new):
            self.rows[self.key(doc)] = {h: getattr(probs, h)[n] for h in HEADS}
            self.tokens[self.key(doc)] = len(ids[n])

    def predict_proba(self, docs: Sequence[Doc]) -> HeadProbabilities:
        self.prime(docs)
        self.read_tokens += sum(self.tokens[self.key(d)] for d in docs)
        self.read_items += len(docs)
        rows = [self.rows[self.key(d)] for d in docs]
        return HeadProbabilities(*(np.array([r[h] for r in rows]).reshape(len(docs), -1) for h in HEADS))

    def reset(self) -> None:
        self.read_tokens, self.read_items = 0, 0


def _variant(spec: str) -> tuple[str, Path, dict[str, str]]:
    name, _, rest = spec.partition("=")
    home, *overrides = rest.split(":")
    return name, Path(home), dict(o.split("=", 1) for o in overrides)


def _threshold(value: str) -> float | None:
    return None if value == "stored" else float(value)


def run_variant(spec: str, thresholds: list[str], sets: list[str]) -> dict[str, Any]:
    name, home, overrides = _variant(spec)
    os.environ["SQMY_HOME"] = str(home)
    settings = Settings()
    engines = load_current_engines(ModelRegistry(settings.models_dir), ensemble=True)
    bert = engines["bert"]
    assert isinstance(bert, BertEngine) and isinstance(engines["ensemble"], EnsembleEngine)
    for key, value in overrides.items():
        setattr(bert, key, int(value) if value.isdigit() else value)
    memo = Memo(bert)
    bert.predict_proba = memo.predict_proba  # type: ignore[method-assign]
    memo.reset()
    router = Router(engines, RoutingPolicy.from_settings(settings), DirectoryKnowledge.from_settings(settings))
    ensemble = engines["ensemble"]
    report: dict[str, Any] = {"home": str(home), "overrides": overrides, "bert": bert.version,
                              "stored_threshold": ensemble.cascade_threshold_}
    for set_name in sets:
        rows = _rows(SETS[set_name])
        memo.prime([Doc(text=r["text"], title=r.get("title") or "") for r in rows])
        memo.reset()
        report[set_name] = {"bert": score(router, "bert", rows)}
        report[set_name]["bert"]["tokens_per_item"] = round(memo.read_tokens / len(rows), 1)
        for t in thresholds:
            ensemble.cascade = _threshold(t)
            memo.reset()
            result = score(router, "auto", rows)
            result["bert_tokens_per_item"] = round(memo.read_tokens / len(rows), 1)
            result["bert_items_share"] = round(memo.read_items / len(rows), 4)
            report[set_name][f"auto@{t}"] = result
            print(f"{name:8} {set_name:9} auto@{t:6} macroF1={result['macro_f1']:.4f} "
                  f"lead@1={result.get('lead_top1')} bert_share={result['bert_items_share']:.3f} "
                  f"bert_tokens/item={result['bert_tokens_per_item']}", file=sys.stderr)
        ensemble.cascade = None
    report["bert_cpu_s_per_1000_tokens"] = round(1000 * memo.cpu_s / max(memo.pass_tokens, 1), 3)
    print(f"{name}: BERT {report['bert_cpu_s_per_1000_tokens']} CPU-s / 1,000 tokens", file=sys.stderr)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", action="append", required=True)
    parser.add_argument("--thresholds", nargs="+", default=["stored", "1"])
    parser.add_argument("--sets", nargs="+", default=list(SETS))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    sets = [s for s in args.sets if SETS[s].is_file()]
    report = {_variant(v)[0]: run_variant(v, args.thresholds, sets) for v in args.variant}
    print_report(report, args.out)


if __name__ == "__main__":
    main()
