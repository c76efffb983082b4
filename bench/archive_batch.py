"""Reclassifying whole archives with ``sqmy batch``: items/s per worker count, and peak memory vs input size.

Generates archives from corpora/opinions.jsonl (texts cycled, unique ids), runs ``sqmy batch IN OUT.csv`` as a
subprocess and samples the RSS (and PSS) of it and all its children (psutil) to find the peak. Prints items/s
for TF-IDF with 1 and 2 workers on ``--rows`` rows, BERT int8 when a BERT model is promoted in the home (else
says it skipped), and peak RSS for ``--rows`` vs ``--big-rows`` rows.

    .venv/bin/python bench/archive_batch.py [--home SQMY_HOME] [--rows 100000] [--big-rows 1000000]

Without ``--home`` a TF-IDF model is trained from corpora/ into a temporary home first (about 70 s).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from itertools import cycle, islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil

from bench.common import REPO, SQMY, bench_env


def write_archive(path: Path, n: int) -> Path:
    """``n`` rows cycled from corpora/opinions.jsonl, with unique ids and the corpus labels as archive labels."""
    rows = [json.loads(line) for line in (REPO / "corpora" / "opinions.jsonl").open(encoding="utf-8")
            if line.strip()]
    with path.open("w", encoding="utf-8") as handle:
        for i, row in enumerate(islice(cycle(rows), n)):
            handle.write(json.dumps({"id": f"a{i}", "title": row.get("title", ""), "text": row["text"],
                                     "topic": row.get("topic")}, ensure_ascii=False) + "\n")
    return path


def run(home: Path, src: Path, out: Path, *args: str) -> dict[str, float]:
    """Run ``sqmy batch``; wall time, summary figures and the peak summed RSS of the process tree (MiB)."""
    summary_file = out.with_name(out.name + ".summary.json")
    started = time.perf_counter()
    process = subprocess.Popen([SQMY, "batch", str(src), str(out), "--quiet", "--summary", str(summary_file), *args],
                               env=bench_env(home), stdout=subprocess.DEVNULL)
    root, peak, peak_pss = psutil.Process(process.pid), 0, 0
    while process.poll() is None:
        try:
            procs = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in procs))
            peak_pss = max(peak_pss, sum(p.memory_full_info().pss for p in procs))
        except psutil.Error:
            pass
        time.sleep(0.5)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"sqmy batch failed with exit code {process.returncode}")
    summary = json.loads(summary_file.read_text(encoding="utf-8"))
    for path in (out, summary_file, out.with_name(out.name + ".errors.jsonl")):
        path.unlink(missing_ok=True)
    return {"rows": summary["total"], "items_per_s": summary["items_per_second"],
            "items_per_s_wall": round(summary["classified"] / wall, 1), "wall_s": round(wall, 1),
            "peak_rss_mib": round(peak / 2**20), "peak_pss_mib": round(peak_pss / 2**20),
            "changed_share": summary.get("changed_share")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, help="SQMY_HOME with a promoted TF-IDF model (default: train one)")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--big-rows", type=int, default=1_000_000, help="0 skips the memory comparison")
    parser.add_argument("--bert-rows", type=int, default=2_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sqmy-archive-bench-") as tmp:
        work = Path(tmp)
        home = args.home
        if home is None:
            home = work / "home"
            print("training a TF-IDF model into a temporary SQMY_HOME (about 70 s)…", flush=True)
            subprocess.run([SQMY, "train", "--engine", "tfidf", "--promote"], env=bench_env(home), check=True,
                           stdout=subprocess.DEVNULL)
        src = write_archive(work / "archive.jsonl", args.rows)
        results: dict[str, dict[str, float]] = {}
        for workers in (1, 2):
            results[f"tfidf_workers{workers}"] = run(home, src, work / "out.csv", "--engine", "tfidf",
                                                     "--workers", str(workers))
            print(f"TF-IDF, {workers} worker(s), {args.rows} rows: {results[f'tfidf_workers{workers}']}", flush=True)

        current = json.loads((home / "models" / "current.json").read_text()) \
            if (home / "models" / "current.json").is_file() else {}
        if current.get("bert"):
            small = write_archive(work / "bert.jsonl", args.bert_rows)
            results["bert_int8_workers1"] = run(home, small, work / "out.csv", "--engine", "bert")
            print(f"BERT int8, 1 worker, {args.bert_rows} rows: {results['bert_int8_workers1']}", flush=True)
        else:
            print("BERT int8: skipped (no BERT model promoted in this SQMY_HOME)", flush=True)

        if args.big_rows:
            src.unlink()
            big = write_archive(work / "big.jsonl", args.big_rows)
            results["tfidf_workers2_big"] = run(home, big, work / "out.csv", "--engine", "tfidf", "--workers", "2")
            print(f"TF-IDF, 2 workers, {args.big_rows} rows: {results['tfidf_workers2_big']}", flush=True)
        largest_child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"largest single child process RSS (getrusage RUSAGE_CHILDREN): {largest_child:.0f} MiB")
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
