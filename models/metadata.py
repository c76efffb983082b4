"""``metadata.json`` of a model artifact directory: plain JSON, readable without importing any engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

METADATA_NAME = "metadata.json"


def read_metadata(path: Path) -> dict[str, Any]:
    meta = Path(path) / METADATA_NAME
    if not meta.is_file():
        raise FileNotFoundError(f"{path}: no {METADATA_NAME}; not a model artifact directory")
    data: dict[str, Any] = json.loads(meta.read_text(encoding="utf-8"))
    return data


def write_metadata(path: Path, metadata: dict[str, Any]) -> None:
    (Path(path) / METADATA_NAME).write_text(json.dumps(metadata, ensure_ascii=False, indent=2), encoding="utf-8")
