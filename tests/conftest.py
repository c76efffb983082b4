"""Shared fixtures: a tiny corpus, a SQMY_HOME with a model trained on it, and a running server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sqmy.core.config import Settings
from sqmy.core.labels import LabelSpace, load_label_space
from sqmy.models import ModelRegistry
from sqmy.models.tfidf import TfidfEngine
from sqmy.training.data import corpus_files, load_items
from sqmy.training.train import train_and_register
from tests.utils.tiny_corpus import write_tiny_corpus

# No test builds the real BERT engine in the background by starting a service (tests/app/test_bootstrap.py opts in).
os.environ["SQMY_BERT"] = "off"
# Nor fits the similarity index's vectors on the corpus at every server start (tests of #17 turn it on, with a
# projection fitted once per session: tests/utils/similar.py).
os.environ["SQMY_SIMILAR"] = "off"
# Under pytest-xdist (`make test`) the workers, and the servers and commands they start, share the cores: torch gets
# its share of OpenMP threads (set before any test imports torch), not one per core in each worker, whose threads
# would wait on each other's time slices (a tiny fine-tune took many times longer on a loaded 2-core machine).
if (_workers := os.environ.get("PYTEST_XDIST_WORKER_COUNT")) and "OMP_NUM_THREADS" not in os.environ:
    os.environ["OMP_NUM_THREADS"] = str(max(1, len(os.sched_getaffinity(0)) // int(_workers)))

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SQMY = str(Path(sys.executable).parent / "sqmy")


@pytest.fixture(scope="session")
def labels() -> LabelSpace:
    settings = Settings()
    return load_label_space(settings.TAXONOMY_PATH, settings.DIRECTORY_PATH)


@pytest.fixture(scope="session")
def tiny_corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("corpus")
    write_tiny_corpus(directory)
    return directory


@pytest.fixture(scope="session")
def trained_home(tmp_path_factory: pytest.TempPathFactory, tiny_corpus_dir: Path, labels: LabelSpace) -> Path:
    """A SQMY_HOME holding one promoted TF-IDF model trained on the tiny corpus."""
    home = tmp_path_factory.mktemp("home")
    items = load_items(corpus_files(tiny_corpus_dir), labels).items
    train_and_register("tfidf", items, ModelRegistry(home / "models"), eval_fraction=0.0, log=lambda _m: None)
    return home


@pytest.fixture(scope="session")
def tfidf_engine(trained_home: Path) -> TfidfEngine:
    registry = ModelRegistry(trained_home / "models")
    return TfidfEngine.load(registry.path(registry.current("tfidf")))


@pytest.fixture
def home(tmp_path: Path, trained_home: Path) -> Path:
    """A private copy of the trained home (tests may write to it)."""
    target = tmp_path / "home"
    shutil.copytree(trained_home, target)
    return target


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sqmy_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQMY_")}
    return env | {"SQMY_HOME": str(home), "SQMY_LOG_LEVEL": "warning", "SQMY_BERT": "off",
                  "SQMY_SIMILAR": "off"} | extra


class Server:
    def __init__(self, home: Path, **env: str) -> None:
        self.home, self.port = home, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [SQMY, "serve"], env=sqmy_env(home, SQMY_PORT=str(self.port), **env),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.process.stdout.read().decode()}")  # type: ignore[union-attr]
            try:
                httpx.get(f"{self.url}/healthz", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("server did not start within 60 s")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, trained_home: Path) -> Iterator[Server]:
    """One plain server (auth off, tiny model) for every test that needs no settings or state of its own: each start
    costs seconds of CPU (imports, model load). Tests on it find their own rows (by id or text), never count all."""
    home = tmp_path_factory.mktemp("server-home")
    shutil.copytree(trained_home, home, dirs_exist_ok=True)
    srv = Server(home)
    yield srv
    srv.stop()


def _postgres_tools() -> tuple[list[str], Path] | None:
    """How to run PostgreSQL's server binaries here (as the ``postgres`` user when we are root), or ``None``."""
    initdb = shutil.which("initdb") or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))), None)
    if initdb is None:
        return None
    bindir = Path(initdb).resolve().parent
    if os.geteuid() != 0:
        return [], bindir
    if shutil.which("runuser") is None:
        return None
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        return None
    return ["runuser", "-u", "postgres", "--"], bindir


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL server (Debian's ``postgresql`` package), or a skip when it is not installed."""
    pytest.importorskip("psycopg", reason="psycopg not installed (pip install -e '.[postgres]')")
    tools = _postgres_tools()
    if tools is None:
        pytest.skip("PostgreSQL server binaries not installed (Debian: apt-get install postgresql)")
    as_user, bindir = tools
    root = Path(tempfile.mkdtemp(prefix="sqmy-pg-"))  # not under pytest's private (0700) temp directory
    data, sockets = root / "data", root / "run"
    sockets.mkdir()
    if as_user:
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
        os.chmod(root, 0o755)
    port = free_port()
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                    "-E", "UTF8", "--no-sync"], check=True, capture_output=True, timeout=120)
    subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(root / "log"),
                    "-o", f"-p {port} -k {sockets} -c listen_addresses='' -c fsync=off", "start"],
                   check=True, capture_output=True, timeout=120)
    try:
        subprocess.run([*as_user, str(bindir / "createdb"), "-h", str(sockets), "-p", str(port), "-U", "postgres",
                        "sqmy"], check=True, capture_output=True, timeout=60)
        yield f"postgresql+psycopg://postgres@/sqmy?host={sockets}&port={port}"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)
