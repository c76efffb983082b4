"""Promote and roll back model versions with their audit entry: one function each, for the CLI and the API."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.engine import Engine as DbEngine

from sqmy.app.storage import audit
from sqmy.models import ModelRegistry
from sqmy.models.base import Engine
from sqmy.training.compare import Gate
from sqmy.training.retrain import promote, rollback


def promote_and_audit(registry: ModelRegistry, db: DbEngine, version: str, *, gate: Gate, force: bool, actor: str,
                      ensemble: bool, loaded: Iterable[Engine] = ()) -> dict[str, Any]:
    """Gate ``version`` against what is served and promote it when it passes (or ``force``); audited either way."""
    outcome = promote(registry, version, gate=gate, force=force, actor=actor, loaded=list(loaded), ensemble=ensemble)
    audit(db, actor, "model.promote" if outcome["promoted"] else "model.promote_refused", version,
          forced=outcome["forced"], reasons=outcome["report"].get("reasons"))
    return outcome


def rollback_and_audit(registry: ModelRegistry, db: DbEngine, engine: str, version: str | None, *,
                       actor: str) -> dict[str, Any]:
    """Serve an earlier version of ``engine`` (default: the previous one); ``LookupError``/``ValueError`` as
    ``sqmy.training.retrain.rollback``."""
    outcome = rollback(registry, engine, version, actor=actor)
    audit(db, actor, "model.rollback", outcome["version"], engine=engine, previous=outcome["previous"])
    return outcome
