"""Schemathesis against a live server, the long run of tests/service/api/test_robustness.py.

Starts `sqmy serve` with auth on (a TF-IDF model trained on every 8th item of corpora/, which is also the corpus a
retraining job uses, so that one stays short), creates an admin key and runs every operation of the OpenAPI schema
with schema-valid and schema-violating data (``--examples`` cases per operation and mode, seeded) through all of
Schemathesis' checks but "schema-valid data must be accepted" (see tests/utils/schema_fuzz.py). Prints the request
count, the status counts, the number of server errors (target 0) and of failed checks, per operation.

    .venv/bin/python bench/robustness.py [--examples 60] [--seed 15]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, SQMY, bench_env
from tests.conftest import Server
from tests.utils.schema_fuzz import fuzz


def small_corpus(directory: Path, every: int = 8) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    with (REPO / "corpora" / "opinions.jsonl").open(encoding="utf-8") as source, \
            (directory / "opinions.jsonl").open("w", encoding="utf-8") as target:
        for n, line in enumerate(source):
            if n % every == 0:
                target.write(line)
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=60, help="cases per operation and generation mode")
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sqmy-robust-") as work:
        home, corpus = Path(work) / "home", small_corpus(Path(work) / "corpus")
        env = bench_env(home, SQMY_CORPUS_DIR=str(corpus))
        subprocess.run([SQMY, "train", "--engine", "tfidf", "--if-missing"], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        key = json.loads(subprocess.run([SQMY, "keys", "create", "--role", "admin", "--name", "bench"], env=env,
                                        check=True, capture_output=True, text=True).stdout)
        server = Server(home, SQMY_AUTH="on", SQMY_CORPUS_DIR=str(corpus), SQMY_RATE_LIMIT_RPS="0")
        started = time.perf_counter()
        try:
            report = fuzz(server.url, {"Authorization": f"Bearer {key['key']}"}, examples=args.examples,
                          run_seed=args.seed, keep_key_ids=(key["id"],))
        finally:
            server.stop()
        seconds = time.perf_counter() - started
    print(json.dumps({"requests": report.requests, "operations": len(report.per_operation),
                      "server_errors": report.server_errors,
                      "failed_checks": sum(len(v) for v in report.failures.values()),
                      "statuses": dict(sorted(report.statuses.items())), "seconds": round(seconds, 1),
                      "examples": args.examples, "seed": args.seed}, ensure_ascii=False))
    for operation, messages in sorted(report.failures.items()):
        print(f"\n== {operation}: {len(messages)} failed\n{messages[0]}")


if __name__ == "__main__":
    main()
