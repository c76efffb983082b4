"""The model registry's pointers under concurrent promotion from several processes."""

import subprocess
import sys

from sqmy.models.metadata import write_metadata
from sqmy.models.registry import ModelRegistry

PROMOTE_LOOP = """
import sys
from sqmy.models.registry import ModelRegistry
registry = ModelRegistry(sys.argv[1])
for n in range(int(sys.argv[3])):
    registry.set_current(sys.argv[2], f"{sys.argv[2]}-v{n % 2}", actor=sys.argv[2])
"""


def test_two_processes_promoting_different_engines_keep_both_pointers(tmp_path):
    for engine in ("tfidf", "bert"):
        for n in range(2):
            (tmp_path / f"{engine}-v{n}").mkdir()
            write_metadata(tmp_path / f"{engine}-v{n}", {"engine": engine})
    rounds = 150
    procs = [subprocess.Popen([sys.executable, "-c", PROMOTE_LOOP, str(tmp_path), engine, str(rounds)])
             for engine in ("tfidf", "bert")]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    registry = ModelRegistry(tmp_path)
    # without the lock one process's read-modify-write overwrote the other's pointer now and then
    assert registry.current("tfidf") == "tfidf-v1" and registry.current("bert") == "bert-v1"
    assert len(registry.history()) == 2 * rounds
