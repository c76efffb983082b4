"""Speed where users feel it (issue #18), TF-IDF path, in one run:

- import + model load in a fresh process, and the load alone;
- ``sqmy classify --engine tfidf "…"``: wall time of the whole command (median of ``--repeat``) and its peak RSS;
- ``sqmy batch --engine tfidf`` on the real archive messages (train + dev, read from ../shared/data) against the
  reference, plain jieba segmentation (``jieba.lcut``) of the same texts in a fresh process: both whole commands,
  and their ratio;
- ``sqmy batch --engine tfidf --workers 2`` on those texts repeated to ``--rows`` rows (items/s of the whole command);
- peak RSS of every command (the largest process: with workers, a worker).

CPU seconds (user + sys, children included) are printed beside wall seconds: on a shared machine the wall clock
also counts the time other people's processes held the cores.

    .venv/bin/python bench/startup.py --home DIR [--rows 100000] [--repeat 5] [--sqmy "CMD"]

``--sqmy`` runs another build's command line instead of this checkout's ``sqmy`` for the classify and batch
figures (e.g. an older commit, to compare before/after in one session); import + load is always this checkout's.

``--home`` is an SQMY_HOME with a promoted TF-IDF model (``sqmy train --engine tfidf`` builds one in ~3 minutes);
without it the model is trained into bench/out/home first.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OUT, SHARED_DATA, SQMY, bench_env, ensure_model

SOURCES = ("real-archive-train.jsonl", "real-archive-dev.jsonl")
COMMAND = [SQMY]
ITEM = "我们小区3栋门口的路灯坏了一个多月，晚上出门很不安全，请尽快维修。"
JIEBA = """
import json, sys
import jieba
jieba.setLogLevel(60)
n = 0
for line in open(sys.argv[1], encoding="utf-8"):
    row = json.loads(line)
    n += len(jieba.lcut(row.get("title", "") + row["text"]))
print(n)
"""
LOAD = """
import sys, time
started = time.perf_counter()
from sqmy.models import ModelRegistry, load_engine
import sqmy.models.tfidf
imported = time.perf_counter()
registry = ModelRegistry(sys.argv[1])
load_engine(registry.path(registry.current("tfidf")))
done = time.perf_counter()
print(round(imported - started, 3), round(done - imported, 3))
"""


def run(argv: list[str], env: dict[str, str] | None = None) -> dict[str, object]:
    """Run a command to completion; its wall and CPU seconds, peak RSS (largest process) and stdout."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        stdout = out.read().decode("utf-8")
    if process.returncode:
        raise SystemExit(f"{' '.join(argv[:4])}… failed with {process.returncode}")
    return {"wall_s": round(wall, 3), "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "stdout": stdout}


def real_texts(path: Path) -> int:
    """The real archive messages (id, title, text) in one JSONL file; returns how many."""
    n = 0
    with path.open("w", encoding="utf-8") as out:
        for name in SOURCES:
            for line in (SHARED_DATA / name).open(encoding="utf-8"):
                row = json.loads(line)
                out.write(json.dumps({"id": row["id"], "title": row.get("title", ""), "text": row["text"]},
                                     ensure_ascii=False) + "\n")
                n += 1
    return n


def repeated(source: Path, path: Path, rows: int) -> Path:
    lines = source.read_text(encoding="utf-8").splitlines()
    with path.open("w", encoding="utf-8") as out:
        for line in itertools.islice(itertools.cycle(lines), rows):
            out.write(line + "\n")
    return path


def batch(home: Path, src: Path, workers: int) -> dict[str, object]:
    done = run([*COMMAND, "batch", str(src), str(src.with_suffix(f".out{workers}.jsonl")), "--engine", "tfidf",
                "--quiet", "--workers", str(workers)], bench_env(home))
    summary = json.loads(str(done.pop("stdout")))
    return done | {"items": summary["classified"], "items_per_s": round(summary["classified"] / done["wall_s"], 1)}


def startup(home: Path, repeat: int) -> dict[str, object]:
    load = run([sys.executable, "-c", LOAD, str(home / "models")])
    imported, loaded = map(float, str(load.pop("stdout")).split())
    classify = [run([*COMMAND, "classify", "--engine", "tfidf", ITEM], bench_env(home)) for _ in range(repeat)]
    assert json.loads(str(classify[0]["stdout"]))["engine"] == "tfidf"
    return {"import_s": imported, "load_s": loaded, "import_and_load_process": load,
            "classify_wall_s_median": statistics.median(float(str(c["wall_s"])) for c in classify),
            "classify_wall_s_min": min(float(str(c["wall_s"])) for c in classify),
            "classify_cpu_s_median": statistics.median(float(str(c["cpu_s"])) for c in classify),
            "classify_peak_rss_mb": max(float(str(c["peak_rss_mb"])) for c in classify)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="SQMY_HOME with a promoted TF-IDF model")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sqmy", default=SQMY, help="the sqmy command to measure (default: this checkout's)")
    args = parser.parse_args()
    COMMAND[:] = shlex.split(args.sqmy)
    home = args.home or OUT / "home"
    if args.home is None:
        ensure_model(home)
    work = Path(tempfile.mkdtemp(prefix="sqmy-startup-"))
    texts = work / "real.jsonl"
    result: dict[str, object] = {"cpu_count": os.cpu_count(), "load_average": os.getloadavg(),
                                 "real_items": real_texts(texts)}
    result["startup"] = startup(home, args.repeat)
    run([sys.executable, "-c", "import jieba; jieba.initialize()"])  # jieba caches its dictionary on first use
    reference = run([sys.executable, "-c", JIEBA, str(texts)])
    reference.pop("stdout")
    one, two = batch(home, texts, 1), batch(home, texts, 2)

    def ratio(run: dict[str, object], key: str) -> float:
        return round(float(str(run[key])) / float(str(reference[key])), 3)

    result["batch_real"] = {"plain_jieba": reference, "sqmy_batch_1_worker": one, "sqmy_batch_2_workers": two,
                            "ratio_wall_1_worker": ratio(one, "wall_s"), "ratio_wall_2_workers": ratio(two, "wall_s"),
                            "ratio_cpu_1_worker": ratio(one, "cpu_s")}
    result[f"batch_{args.rows}_rows_2_workers"] = batch(home, repeated(texts, work / "many.jsonl", args.rows), 2)
    result["load_average_after"] = os.getloadavg()
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
