"""API keys with roles. Keys are random tokens shown once; only their SHA-256 digest is stored."""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine as DbEngine

from sqmy.app.storage import ApiKey, audit, now, transaction

ROLES = ("editor", "trainer", "admin")  # each role may do everything the ones before it may
ROLE_NAMES = {"editor": "编辑", "trainer": "训练员", "admin": "管理员"}
KEY_PREFIX = "sqmy_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key's name and role (or the local user when auth is off)."""

    name: str
    role: str
    key_id: int | None = None

    def allows(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


LOCAL_USER = Principal(name="本地用户", role="admin")


def auth_enabled(mode: str, host: str) -> bool:
    """``auto``: on unless the service binds a loopback address (a local single-user install)."""
    if mode in ("on", "off"):
        return mode == "on"
    if host in ("localhost", ""):
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True  # a host name other than localhost: assume it is reachable by others


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(db: DbEngine, role: str, name: str, actor: str = "cli") -> dict[str, Any]:
    """Store a new key; the returned dict holds the key itself, which is never retrievable again."""
    if role not in ROLES:
        raise ValueError(f"未知角色 {role!r}（可选：{'、'.join(ROLES)}）")
    if not name.strip():
        raise ValueError("名称不能为空")
    key = KEY_PREFIX + secrets.token_urlsafe(24)
    row = {"name": name.strip(), "role": role, "prefix": key[:10], "key_hash": digest(key), "created_at": now()}
    with transaction(db) as conn:
        inserted = conn.execute(insert(ApiKey).values(**row)).inserted_primary_key
        assert inserted is not None
        key_id = inserted[0]
        audit(conn, actor, "key.create", str(key_id), name=row["name"], role=role)
    return {"id": key_id, "name": row["name"], "role": role, "prefix": row["prefix"], "key": key}


def list_keys(db: DbEngine) -> list[dict[str, Any]]:
    with db.connect() as conn:
        rows = conn.execute(select(ApiKey).order_by(ApiKey.id)).mappings().all()
    return [{"id": r["id"], "name": r["name"], "role": r["role"], "prefix": r["prefix"],
             "created_at": r["created_at"].isoformat(timespec="seconds"),
             "revoked_at": r["revoked_at"].isoformat(timespec="seconds") if r["revoked_at"] else None} for r in rows]


def revoke_key(db: DbEngine, key_id: int, actor: str = "cli") -> bool:
    with transaction(db) as conn:
        changed = conn.execute(update(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
                               .values(revoked_at=now())).rowcount
        if changed:
            audit(conn, actor, "key.revoke", str(key_id))
    return bool(changed)


def authenticate(db: DbEngine, key: str) -> Principal | None:
    """The principal of a valid, unrevoked key, else ``None``."""
    with db.connect() as conn:
        row = conn.execute(select(ApiKey).where(ApiKey.key_hash == digest(key),
                                                ApiKey.revoked_at.is_(None))).mappings().first()
    return Principal(name=row["name"], role=row["role"], key_id=row["id"]) if row else None
