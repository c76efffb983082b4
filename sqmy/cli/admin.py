"""``sqmy`` commands for the retraining journey and administration: feedback import, retrain, models, keys."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sqmy.core.config import TRAINABLE_ENGINES, Settings
from sqmy.core.io import dumps


def _print(value: Any) -> None:
    """Machine-readable output: one JSON document on stdout."""
    sys.stdout.write(dumps(value) + "\n")


def _fail(message: str, code: int = 2) -> int:
    """A message for people on stderr (in Chinese); returns the exit code."""
    sys.stderr.write(f"错误：{message}\n")
    return code


def _db(settings: Settings) -> Any:
    from sqmy.app.storage import make_engine

    return make_engine(settings.database_url)


def _labels(settings: Settings) -> Any:
    from sqmy.core.labels import load_label_space

    return load_label_space(settings.TAXONOMY_PATH, settings.DIRECTORY_PATH)


def cmd_feedback_import(args: argparse.Namespace, settings: Settings) -> int:
    from sqmy.app.feedback import import_feedback

    if not args.file.is_file():
        return _fail(f"文件不存在：{args.file}")
    try:
        report = import_feedback(_db(settings), _labels(settings), args.file, actor=args.editor,
                                 raw=settings.STORE_RAW_TEXT or not settings.MASK_PII)
    except ValueError as exc:  # unsupported file type
        return _fail(str(exc))
    for error in report["errors"]:
        sys.stderr.write(f"跳过第 {error['row']} 行：{error['error']}\n")
    sys.stderr.write(f"已导入 {report['stored']} 条纠正，{report['error_count']} 行有错误\n")
    _print(report)
    return 0


def cmd_retrain(args: argparse.Namespace, settings: Settings) -> int:
    from sqmy.app.feedback import corrections
    from sqmy.app.storage import audit
    from sqmy.core.progress import Progress, write_json_atomic
    from sqmy.training.retrain import retrain

    engines = list(TRAINABLE_ENGINES) if args.engine == "all" else [args.engine]
    db, labels = _db(settings), _labels(settings)
    fixes = corrections(db, labels)
    outcome = retrain(engines, settings, promote_mode=args.promote, corrections=fixes, labels=labels,
                      progress=Progress(sys.stderr, file=args.progress_file, percent=True), actor=args.actor,
                      log=lambda m: print(m, file=sys.stderr))
    for name, result in outcome["engines"].items():
        audit(db, args.actor, "model.retrain", result["version"], engine=name, promoted=result["promoted"],
              corrections=len(fixes), reasons=result["report"].get("reasons"))
        state = "已上线" if result["promoted"] else "未上线"
        sys.stderr.write(f"{name}：新版本 {result['version']} {state}（{'；'.join(result['report']['reasons'])}）\n")
    if args.summary:
        write_json_atomic(args.summary, outcome)
    _print(outcome)
    return 0


def cmd_models_list(args: argparse.Namespace, settings: Settings) -> int:
    from sqmy.models import ModelRegistry

    registry = ModelRegistry(settings.models_dir)
    current = {e: registry.current(e) for e in TRAINABLE_ENGINES}
    rows = [{"version": m["version"], "engine": m["engine"], "created_at": m.get("created_at"),
             "current": current.get(m["engine"]) == m["version"], "parent": m.get("parent"),
             "macro_f1": (m.get("metrics", {}).get("topic") or {}).get("macro_f1")}
            for m in registry.versions(args.engine)]
    _print({"current": current, "data": rows})
    return 0


def cmd_models_promote(args: argparse.Namespace, settings: Settings) -> int:
    from sqmy.app.model_admin import promote_and_audit
    from sqmy.models import ModelRegistry
    from sqmy.training.compare import Gate

    registry = ModelRegistry(settings.models_dir)
    try:
        registry.path(args.version)
    except KeyError:
        return _fail(f"模型版本 {args.version} 不存在")
    outcome = promote_and_audit(registry, _db(settings), args.version, gate=Gate.from_settings(settings),
                                force=args.force, actor=args.actor, ensemble=settings.ENSEMBLE)
    _print(outcome)
    if not outcome["promoted"]:
        return _fail("未通过上线检查：" + "；".join(outcome["report"]["reasons"]) + "（--force 强制上线）", 1)
    return 0


def cmd_models_rollback(args: argparse.Namespace, settings: Settings) -> int:
    from sqmy.app.model_admin import rollback_and_audit
    from sqmy.models import ModelRegistry

    try:
        outcome = rollback_and_audit(ModelRegistry(settings.models_dir), _db(settings), args.engine, args.version,
                                     actor=args.actor)
    except (LookupError, ValueError) as exc:
        return _fail(str(exc))
    _print(outcome)
    return 0


def cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    from sqmy.app.auth import create_key, list_keys, revoke_key

    db = _db(settings)
    if args.keys_command == "create":
        try:
            created = create_key(db, args.role, args.name, actor="cli")
        except ValueError as exc:
            return _fail(str(exc))
        sys.stderr.write("请妥善保存密钥，它不会再次显示。\n")
        _print(created)
    elif args.keys_command == "list":
        _print({"data": list_keys(db)})
    elif not revoke_key(db, args.id, actor="cli"):
        return _fail(f"密钥 {args.id} 不存在或已吊销")
    else:
        _print({"id": args.id, "revoked": True})
    return 0


def cmd_prune(args: argparse.Namespace, settings: Settings) -> int:
    from sqmy.app.retention import Retention, prune

    if any(d is not None and d < 1 for d in (args.days, args.job_days, args.audit_days)):
        return _fail("保留天数必须是正整数")
    days = args.days or settings.RETENTION_DAYS
    retention = Retention(days, args.job_days or settings.JOB_RETENTION_DAYS or days,
                          args.audit_days or settings.AUDIT_RETENTION_DAYS)
    if not retention.active:
        return _fail("未设置保留期限：请设置 SQMY_RETENTION_DAYS，或使用 --days / --job-days / --audit-days")
    report = prune(_db(settings), settings.jobs_dir, retention, dry_run=args.dry_run, actor=args.actor,
                   similar_dir=settings.similar_dir)
    verb = "将删除" if args.dry_run else "已删除"
    sys.stderr.write(f"{verb} {report['classifications']} 条分类记录、{len(report['jobs'])} 个任务目录、"
                     f"{report['audit_events']} 条审计记录；反馈记录始终保留\n")
    _print(report)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("feedback", help="纠正记录：import 批量导入 CSV/JSONL")
    fsub = p.add_subparsers(dest="feedback_command", required=True)
    f = fsub.add_parser("import", help="导入纠正（坏行写入报告，不中断）")
    f.add_argument("file", type=Path)
    f.add_argument("--editor", default="导入", help="记在审计日志中的纠正人")
    f.set_defaults(func=cmd_feedback_import)

    p = sub.add_parser("retrain", help="语料 + 全部纠正 → 新版本 → 与当前模型比较 → 上线或保留")
    p.add_argument("--engine", choices=[*TRAINABLE_ENGINES, "all"], default="tfidf")
    p.add_argument("--promote", choices=["auto", "never", "force"], default="auto",
                   help="auto：通过上线检查才上线（默认）；never：只训练；force：总是上线")
    p.add_argument("--actor", default="cli", help="记在审计日志中的操作人")
    p.add_argument("--progress-file", type=Path, help="进度 JSON 文件（后台任务用）")
    p.add_argument("--summary", type=Path, help="结果 JSON 文件")
    p.set_defaults(func=cmd_retrain)

    p = sub.add_parser("models", help="模型版本：list / promote / rollback")
    msub = p.add_subparsers(dest="models_command", required=True)
    m = msub.add_parser("list", help="全部版本与当前版本")
    m.add_argument("--engine", choices=TRAINABLE_ENGINES)
    m.set_defaults(func=cmd_models_list)
    m = msub.add_parser("promote", help="经上线检查后设为当前模型")
    m.add_argument("version")
    m.add_argument("--force", action="store_true", help="即使比当前模型差也上线")
    m.add_argument("--actor", default="cli")
    m.set_defaults(func=cmd_models_promote)
    m = msub.add_parser("rollback", help="回退到上一个（或指定的）版本")
    m.add_argument("--engine", choices=TRAINABLE_ENGINES, default="tfidf")
    m.add_argument("--version")
    m.add_argument("--actor", default="cli")
    m.set_defaults(func=cmd_models_rollback)

    p = sub.add_parser("prune", help="按保留期限删除旧的分类记录和已结束任务的文件（反馈记录始终保留）")
    p.add_argument("--days", type=int, help="分类记录保留天数（默认 SQMY_RETENTION_DAYS）")
    p.add_argument("--job-days", type=int,
                   help="已结束任务的文件保留天数（默认 SQMY_JOB_RETENTION_DAYS，否则同 --days）")
    p.add_argument("--audit-days", type=int,
                   help="审计记录保留天数（默认 SQMY_AUDIT_RETENTION_DAYS；不设则永久保留）")
    p.add_argument("--dry-run", action="store_true", help="只列出将删除的内容，不删除")
    p.add_argument("--actor", default="cli", help="记在审计日志中的操作人")
    p.set_defaults(func=cmd_prune)

    p = sub.add_parser("keys", help="API 密钥：create / list / revoke")
    ksub = p.add_subparsers(dest="keys_command", required=True)
    k = ksub.add_parser("create", help="新建密钥（只显示一次）")
    k.add_argument("--role", choices=["editor", "trainer", "admin"], required=True)
    k.add_argument("--name", required=True, help="使用人或用途")
    k.set_defaults(func=cmd_keys)
    k = ksub.add_parser("list", help="列出密钥（不含密钥本身）")
    k.set_defaults(func=cmd_keys)
    k = ksub.add_parser("revoke", help="吊销密钥")
    k.add_argument("id", type=int)
    k.set_defaults(func=cmd_keys)
