"""Browser tests: a real headless Chromium (Debian's `chromium`) driven by Playwright for Python.

They skip, saying why, when Playwright or Chromium is missing (`pip install -e '.[dev]'`; `apt-get install
chromium`); set SQMY_CHROMIUM to use another Chromium binary. Screenshots go to tests/artifacts/ (and to
docs/screenshots/ with SQMY_UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sqmy.core.labels import LabelSpace
from sqmy.models import ModelRegistry
from sqmy.training.data import corpus_files, load_items
from sqmy.training.train import train_and_register
from tests.conftest import REPO, SQMY, Server, sqmy_env

ARTIFACTS = REPO / "tests" / "artifacts"
DOC_SHOTS = REPO / "docs" / "screenshots"


def find_chromium() -> str | None:
    for candidate in (os.environ.get("SQMY_CHROMIUM"), "chromium", "chromium-browser", "/usr/bin/chromium",
                      "/usr/lib/chromium/chromium"):
        if candidate and (path := shutil.which(candidate) or (candidate if os.access(candidate, os.X_OK) else None)):
            return path
    return None


sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright for Python is not installed: pip install -e '.[dev]' (browser tests)")
CHROMIUM = find_chromium()
if CHROMIUM is None:
    pytest.skip("no Chromium binary found (apt-get install chromium, or set SQMY_CHROMIUM): browser tests skipped",
                allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Chromium for one test module: Playwright's sync API keeps an event loop running in the main thread while it
    is open, and a test run after it in the same process (``asyncio.run`` in tests/app, as pytest-xdist may order
    them) would find that loop and fail."""
    with sync_api.sync_playwright() as playwright:
        # --no-sandbox: CI containers run as root, where Chromium's sandbox cannot start
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--lang=zh-CN"],
                                              env={**os.environ, "LANGUAGE": "zh_CN:zh", "TZ": "Asia/Shanghai"})
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1280, "height": 900},
                                  accept_downloads=True)
    context.set_default_timeout(20_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def shot(page, name: str) -> Path:
    """Save a full-page screenshot as a test artifact (and as documentation when asked to)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("SQMY_UPDATE_SCREENSHOTS") == "1":
        DOC_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOC_SHOTS / path.name)
    return path


@pytest.fixture(scope="session")
def web_home_template(tmp_path_factory, trained_home: Path, tiny_corpus_dir: Path, labels: LabelSpace) -> Path:
    """Built once per session (a copy costs less than a training run); tests use copies of it, never this one."""
    home = tmp_path_factory.mktemp("web-home-template")
    shutil.copytree(trained_home, home, dirs_exist_ok=True)
    items = load_items(corpus_files(tiny_corpus_dir), labels).items
    train_and_register("tfidf", items, ModelRegistry(home / "models"), eval_fraction=0.3, promote=False,
                       log=lambda _m: None)
    return home


@pytest.fixture(scope="module")
def web_home(tmp_path_factory, web_home_template: Path) -> Path:
    """The trained home plus a second, not yet promoted TF-IDF version that has evaluation metrics (a fresh copy per
    module)."""
    home = tmp_path_factory.mktemp("web-home")
    shutil.copytree(web_home_template, home, dirs_exist_ok=True)
    return home


@pytest.fixture(scope="session")
def open_server(tmp_path_factory, web_home_template: Path) -> Iterator[Server]:
    """A real server on a copy of the web home, auth off (loopback): no login needed. Shared by every browser test
    that changes no model and no setting (one start instead of one per module): tests find their own items."""
    home = tmp_path_factory.mktemp("open-home")
    shutil.copytree(web_home_template, home, dirs_exist_ok=True)
    srv = Server(home, SQMY_AUTH="off")
    yield srv
    srv.stop()


def classify_on_page(page, title: str, text: str) -> None:
    """Type an item into the classify view and classify it with Ctrl+Enter; returns once the result shows."""
    page.fill("#item-title", title)
    page.fill("#item-text", text)
    page.focus("#item-text")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#topic-path")


def has_endpoint(server: Server, method: str, path: str) -> bool:
    """Whether the server's OpenAPI lists ``method path`` (path parameters match whatever their names)."""
    spec = httpx.get(f"{server.url}/openapi.json", timeout=10).json()
    def shape(p: str) -> str:
        return re.sub(r"\{[^}]*\}", "{}", p)

    return any(method.lower() in ops for p, ops in spec.get("paths", {}).items() if shape(p) == shape(path))


def require(server: Server, *endpoints: str) -> None:
    """Skip (naming them) when the #5 endpoints a test needs are not on this branch yet."""
    missing = [e for e in endpoints if not has_endpoint(server, *e.split(" ", 1))]
    if missing:
        pytest.skip(f"#5 endpoint(s) not merged on this branch yet: {', '.join(missing)}")


def create_key(home: Path, role: str, name: str) -> str:
    out = subprocess.run([SQMY, "keys", "create", "--role", role, "--name", name], env=sqmy_env(home),
                         capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)["key"]


AXE_JS = Path(__file__).parent / "vendor" / "axe.min.js"


def axe_violations(page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict]:
    """Run axe-core (vendored, tests only) in the page and return the violations of the given impacts.

    Each violation is reduced to ``{id, impact, help, targets}`` so that an assertion message names the rule and the
    elements it found."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=AXE_JS.read_text(encoding="utf-8"))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "targets": [n["target"] for n in v["nodes"]][:5]}
            for v in result["violations"] if v["impact"] in impacts]
