"""Who am I; API key management and the audit trail (admin)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from sqmy.app.auth import ROLE_NAMES, create_key, list_keys, revoke_key
from sqmy.app.storage import audit_events
from sqmy.service.api.deps import Admin, Editor, StateDep, forget_cached_keys
from sqmy.service.errors import BODY, KEYED, ErrorType, SqmyError, error_responses
from sqmy.service.responses import JSONResponse

router = APIRouter(prefix="/v1", tags=["auth"])


@router.get("/whoami", responses=error_responses(*KEYED), operation_id="auth-whoami")
def whoami(state: StateDep, principal: Editor) -> dict[str, Any]:
    """当前调用者的名称与角色（未启用密钥时为本地用户，拥有全部权限）。"""
    return {"auth": state.auth, "name": principal.name, "role": principal.role,
            "role_name": ROLE_NAMES[principal.role]}


class KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] = Field(
        description="使用人或用途")
    role: Literal["editor", "trainer", "admin"] = Field(description="editor 编辑 / trainer 训练员 / admin 管理员")


@router.get("/audit", responses=error_responses(*KEYED, 403, 422), operation_id="auth-audit")
def get_audit(state: StateDep, _principal: Admin, action: str | None = None,
              limit: int = Query(default=100, ge=1, le=1000)) -> dict[str, Any]:
    """审计记录（谁、何时、做了什么），新的在前；action 按前缀筛选，如 feedback、model、key。"""
    events = audit_events(state.db, action=action, limit=limit)
    return {"data": events, "count": len(events)}


@router.get("/keys", responses=error_responses(*KEYED, 403), operation_id="auth-keys-list")
def get_keys(state: StateDep, _principal: Admin) -> dict[str, Any]:
    """全部 API 密钥（只显示前缀，不显示密钥本身）。"""
    keys = list_keys(state.db)
    return {"data": keys, "count": len(keys)}


@router.post("/keys", status_code=201, responses=error_responses(*KEYED, *BODY, 403), operation_id="auth-keys-create")
def post_key(request: KeyRequest, state: StateDep, principal: Admin) -> JSONResponse:
    """新建密钥；密钥只在此响应中出现一次，请妥善保存。"""
    try:
        created = create_key(state.db, request.role, request.name, actor=principal.name)
    except ValueError as exc:  # the rules of sqmy.app.auth (known role, a name with a visible character)
        raise SqmyError(ErrorType.validation, f"字段 name：{exc}", "name") from exc
    return JSONResponse(created, status_code=201)


@router.delete("/keys/{key_id}", responses=error_responses(*KEYED, 403, 404, 422), operation_id="auth-keys-revoke")
def delete_key(key_id: Annotated[int, Path(ge=1, le=2**63 - 1, description="密钥编号")], state: StateDep,
               principal: Admin) -> dict[str, Any]:
    """吊销密钥（30 秒内在所有服务进程生效）。"""
    if not revoke_key(state.db, key_id, actor=principal.name):
        raise SqmyError(ErrorType.not_found, f"密钥 {key_id} 不存在或已吊销", "key_id")
    forget_cached_keys()
    return {"id": key_id, "revoked": True}
