"""Model registry under ``SQMY_HOME/models``: one directory per version, a pointer per engine."""

from __future__ import annotations

import json
import os
import secrets
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqmy.core.locks import file_lock
from sqmy.models.metadata import read_metadata

CURRENT_NAME = "current.json"
HISTORY_NAME = "history.jsonl"
LOCK_NAME = ".current.lock"


class ModelRegistry:
    """Versions live in ``<root>/<version>/``; ``current.json`` maps engine name → promoted version."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def new_version(self, engine: str) -> str:
        return f"{engine}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"

    def path(self, version: str) -> Path:
        path = self.root / version
        if not (path / "metadata.json").is_file():
            raise KeyError(f"unknown model version {version!r}")
        return path

    def versions(self, engine: str | None = None) -> list[dict[str, Any]]:
        """Metadata of every stored version, newest first."""
        if not self.root.is_dir():
            return []
        found = []
        for meta in self.root.glob("*/metadata.json"):
            if meta.parent.name.startswith("."):  # a version still being written
                continue
            data = read_metadata(meta.parent)
            if engine is None or data.get("engine") == engine:
                found.append((data.get("created_at", ""), meta.stat().st_mtime_ns, data))
        return [data for *_, data in sorted(found, key=lambda f: f[:2], reverse=True)]

    def _pointers(self) -> dict[str, str]:
        file = self.root / CURRENT_NAME
        return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}

    def current(self, engine: str) -> str | None:
        version = self._pointers().get(engine)
        return version if version and (self.root / version / "metadata.json").is_file() else None

    def set_current(self, engine: str, version: str, *, actor: str = "system", action: str = "promote",
                    note: str = "") -> None:
        """Point ``engine`` at ``version`` atomically (write + rename) and append the change to the history."""
        meta = read_metadata(self.path(version))
        if meta.get("engine") != engine:
            raise ValueError(f"{version} is a {meta.get('engine')} model, not {engine}")
        self.root.mkdir(parents=True, exist_ok=True)
        # read-modify-write under an exclusive lock: two processes promoting at once both keep their change
        with file_lock(self.root / LOCK_NAME):
            previous = self.current(engine)
            pointers = self._pointers() | {engine: version}
            tmp = self.root / f".{CURRENT_NAME}.{os.getpid()}.{threading.get_ident()}"
            tmp.write_text(json.dumps(pointers, ensure_ascii=False, indent=2), encoding="utf-8")
            tmp.replace(self.root / CURRENT_NAME)
            entry = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "engine": engine, "version": version,
                     "previous": previous, "action": action, "actor": actor, "note": note}
            with open(self.root / HISTORY_NAME, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def history(self, engine: str | None = None) -> list[dict[str, Any]]:
        """Every pointer change, oldest first."""
        file = self.root / HISTORY_NAME
        if not file.is_file():
            return []
        entries = [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
        return [e for e in entries if engine is None or e["engine"] == engine]

    def rollback_target(self, engine: str) -> str | None:
        """The version that was current before the current one (skipping versions since deleted)."""
        current = self.current(engine)
        for entry in reversed(self.history(engine)):
            if entry["version"] == current and entry.get("previous") and entry["previous"] != current \
                    and (self.root / entry["previous"] / "metadata.json").is_file():
                return entry["previous"]
        return None
