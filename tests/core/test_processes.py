"""Helper processes leave when the process that started them is killed, even one still starting at that moment
(a ``concurrent.futures`` pool worker, as the bulk lane's, otherwise stays forever)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil

SCRIPT = '''
import multiprocessing, os, sys, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from sqmy.core.processes import exit_with_parent

def init(pid_file):
    Path(pid_file).write_text(str(os.getpid()))
    time.sleep(float(sys.argv[2]))  # still starting when its parent is killed (or not)
    exit_with_parent()

if __name__ == "__main__":
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=init,
                               initargs=(sys.argv[1],))
    pool.submit(os.getpid)
    while not Path(sys.argv[1]).exists():
        time.sleep(0.05)
    time.sleep(float(sys.argv[3]))
    os._exit(0)  # as kill -9: no pool shutdown
'''


def orphan_left(tmp_path: Path, worker_start: float, parent_lives: float) -> bool:
    script, pid_file = tmp_path / "parent.py", tmp_path / "worker.pid"
    script.write_text(SCRIPT)
    subprocess.run([sys.executable, str(script), str(pid_file), str(worker_start), str(parent_lives)], check=True,
                   timeout=120)
    worker = psutil.Process(int(pid_file.read_text()))
    _, alive = psutil.wait_procs([worker], timeout=30)
    left = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    for process in left:
        process.kill()
    return bool(left)


def test_a_pool_worker_leaves_when_its_parent_is_killed(tmp_path: Path) -> None:
    assert not orphan_left(tmp_path, worker_start=0.0, parent_lives=1.0)


def test_a_worker_still_starting_when_its_parent_is_killed_leaves_too(tmp_path: Path) -> None:
    assert not orphan_left(tmp_path, worker_start=1.5, parent_lives=0.0)


def test_a_worker_stays_while_its_parent_lives(tmp_path: Path) -> None:
    script = tmp_path / "watch.py"
    script.write_text("import time\nfrom sqmy.core.processes import exit_with_parent\n"
                      "exit_with_parent(poll=0.05)\ntime.sleep(1.0)\nprint('finished')\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "finished"
