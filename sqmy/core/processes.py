"""Helper processes of a server: named for ``ps``/``top``, and gone when their parent is."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
from pathlib import Path

PARENT_POLL_SECONDS = 1.0


def name_process(name: str) -> None:
    """Name this process as ``ps``/``top`` show it (Linux: 15 characters), so a helper process is told apart from
    the server it serves."""
    with contextlib.suppress(OSError):
        Path("/proc/self/comm").write_text(name[:15])


def exit_with_parent(poll: float = PARENT_POLL_SECONDS) -> threading.Thread:
    """Leave this process once its parent is gone (``kill -9`` or an OOM kill of a server).

    A ``concurrent.futures`` pool worker (the bulk lane's) waits on its task queue, whose pipe it holds
    both ends of, so it never sees the parent leave and would stay, with its models in memory, until the machine
    restarts. A daemon thread compares the parent's pid with the one that started this process (multiprocessing
    knows it: a worker still starting when its parent was killed has been adopted already)."""
    started_by = multiprocessing.parent_process()
    parent = started_by.pid if started_by is not None and started_by.pid is not None else os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            threading.Event().wait(poll)
        os._exit(0)

    thread = threading.Thread(target=watch, name="exit-with-parent", daemon=True)
    thread.start()
    return thread
