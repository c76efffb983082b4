"""Model registry under ``SQMY_HOME/models``: one directory per version, a pointer per engine."""

from __future__ import annotations

import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models.base import read_metadata

CURRENT_NAME = "current.json"


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
            data = read_metadata(meta.parent)
            if engine is None or data.get("engine") == engine:
                found.append(data)
        return sorted(found, key=lambda m: m.get("created_at", ""), reverse=True)

    def _pointers(self) -> dict[str, str]:
        file = self.root / CURRENT_NAME
        return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}

    def current(self, engine: str) -> str | None:
        version = self._pointers().get(engine)
        return version if version and (self.root / version / "metadata.json").is_file() else None

    def set_current(self, engine: str, version: str) -> None:
        """Point ``engine`` at ``version`` atomically (write + rename)."""
        self.path(version)
        pointers = self._pointers() | {engine: version}
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{CURRENT_NAME}.{os.getpid()}"
        tmp.write_text(json.dumps(pointers, ensure_ascii=False, indent=2), encoding="utf-8")
        tmp.replace(self.root / CURRENT_NAME)
