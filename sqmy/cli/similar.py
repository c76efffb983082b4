"""``sqmy`` commands of issue #17: index archives, suggest merge groups, hotspots, merge groups (并案)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from sqmy.cli.admin import _db, _fail, _print
from sqmy.core.config import Settings
from sqmy.core.io import dumps


def index_archive(path: Path, settings: Settings, *, sheet: str | None = None,
                  prefix: str | None = None) -> dict[str, Any]:
    """Add every row of an archive (input or ``sqmy batch`` output) to the similarity index."""
    import time

    from sqmy.app.similar.archives import archive_entries
    from sqmy.app.similar.service import open_from_settings

    index = open_from_settings(settings)
    started, added = time.perf_counter(), 0
    try:
        for batch in archive_entries(path, sheet=sheet, prefix=prefix):
            added += index.add(batch)
    finally:
        index.close()
    seconds = time.perf_counter() - started
    return {"file": str(path), "indexed": added, "seconds": round(seconds, 2),
            "items_per_second": round(added / seconds, 1) if seconds else None, "index_size": len(index)}


def install_meaning_encoder(source: Path, settings: Settings) -> int:
    """``sqmy index --encoder DIR``: the pooled int8 graph of an encoder beside the index (embeddings of a former
    encoder dropped; the indexer embeds the stored items again at its own pace)."""
    from sqmy.app.similar.meaning import install_encoder
    from sqmy.app.similar.store import ItemStore

    if not (source / "config.json").is_file():
        return _fail(f"编码器目录无效（缺少 config.json）：{source}")
    target = install_encoder(source, settings.similar_dir)
    store = ItemStore(settings.similar_dir / "items.db")
    try:
        store.clear_meaning()
        count = store.count()
    finally:
        store.close()
    sys.stderr.write(f"已安装语义编码器：{target}；重启服务后生效，{count} 条已索引条目将由索引进程逐步计算语义向量\n")
    _print({"encoder": str(target), "indexed": count})
    return 0


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    if args.encoder is not None:
        return install_meaning_encoder(args.encoder, settings)
    if args.input is None:
        return _fail("请给出要索引的档案文件，或用 --encoder 安装语义编码器")
    if not args.input.is_file():
        return _fail(f"输入文件不存在：{args.input}")
    try:
        report = index_archive(args.input, settings, sheet=args.sheet, prefix=args.prefix)
    except (ValueError, OSError) as exc:
        return _fail(str(exc))
    sys.stderr.write(f"已索引 {report['indexed']} 条（{report['items_per_second']} 条/秒）\n")
    _print(report)
    return 0


def suggested_groups(path: Path, settings: Settings, *, sheet: str | None = None) -> list[dict[str, Any]]:
    from sqmy.app.similar.archives import archive_items
    from sqmy.app.similar.cluster import cluster
    from sqmy.app.similar.service import cluster_thresholds, open_from_settings

    index = open_from_settings(settings)
    try:
        return cluster(archive_items(path, sheet=sheet), index.projection, cluster_thresholds(settings))
    finally:
        index.close()


def cmd_cluster(args: argparse.Namespace, settings: Settings) -> int:
    if not args.input.is_file():
        return _fail(f"输入文件不存在：{args.input}")
    if args.output.suffix.lower() not in (".json", ".jsonl"):
        return _fail("输出文件须为 .json（一个数组）或 .jsonl（每组一行）")
    try:
        found = suggested_groups(args.input, settings, sheet=args.sheet)
    except (ValueError, OSError) as exc:
        return _fail(str(exc))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if args.output.suffix.lower() == ".jsonl":
        args.output.write_bytes(b"".join(orjson.dumps(g) + b"\n" for g in found))
    else:
        args.output.write_text(dumps(found) + "\n", encoding="utf-8")
    grouped = sum(g["size"] for g in found)
    sys.stderr.write(f"建议并案 {len(found)} 组，涉及 {grouped} 条\n")
    _print({"output": str(args.output), "groups": len(found), "grouped_items": grouped,
            "largest": [{k: g[k] for k in ("group", "size", "reason", "topic")} for g in found[:5]]})
    return 0


def cmd_hotspots(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import date

    from sqmy.app.similar.archives import archive_items
    from sqmy.app.similar.cluster import hotspots
    from sqmy.app.similar.service import cluster_thresholds, open_from_settings, period_items

    try:
        end = date.fromisoformat(args.to) if args.to else None
    except ValueError:
        return _fail("--to 须为日期，如 2026-05-31")
    index = open_from_settings(settings)
    try:
        if args.input is not None:
            if not args.input.is_file():
                return _fail(f"输入文件不存在：{args.input}")
            items = [i for i in archive_items(args.input) if _in(i.date, args.start, args.to)]
        else:
            items = period_items(index, args.start, args.to)
        rows = hotspots(items, index.projection, cluster_thresholds(settings), end=end, window_days=args.window,
                        limit=args.limit)
    finally:
        index.close()
    _print({"data": rows, "count": len(rows), "items": len(items)})
    return 0


def _in(day: str | None, start: str | None, end: str | None) -> bool:
    if not (start or end):
        return True
    if not day:
        return False
    return (not start or day[:10] >= start) and (not end or day[:10] <= end)


def cmd_group(args: argparse.Namespace, settings: Settings) -> int:
    from sqmy.app.similar import groups

    db = _db(settings)
    try:
        if args.action == "create":
            result: Any = groups.create_group(db, args.items, args.actor, lead_item=args.lead_item,
                                              lead_unit=args.lead_unit, title=args.title or "")
        elif args.action == "show":
            result = groups.get_group(db, args.group)
        elif args.action == "list":
            result = groups.list_groups(db, args.limit)
        elif args.action == "add":
            result = groups.add_members(db, args.group, args.items, args.actor)
        elif args.action == "remove":
            result = groups.remove_member(db, args.group, args.item, args.actor)
        else:
            result = groups.set_lead(db, args.group, args.actor, lead_item=args.lead_item, lead_unit=args.lead_unit)
    except groups.GroupError as exc:
        return _fail(str(exc))
    _print(result)
    return 0


def _group_parsers(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser("group", help="并案组：建立、查看、加入/移出条目、改选主条目").add_subparsers(
        dest="action", required=True)
    p = group.add_parser("create", help="把若干条目并案（第一个为主条目）")
    p.add_argument("items", nargs="+", help="条目编号（至少两个）")
    p.add_argument("--lead-item")
    p.add_argument("--lead-unit")
    p.add_argument("--title")
    p = group.add_parser("show", help="查看一个并案组")
    p.add_argument("group")
    p = group.add_parser("list", help="最近的并案组")
    p.add_argument("--limit", type=int, default=50)
    p = group.add_parser("add", help="向并案组加入条目")
    p.add_argument("group")
    p.add_argument("items", nargs="+")
    p = group.add_parser("remove", help="从并案组移出一个条目")
    p.add_argument("group")
    p.add_argument("item")
    p = group.add_parser("lead", help="改选主条目或主办单位")
    p.add_argument("group")
    p.add_argument("--lead-item")
    p.add_argument("--lead-unit")
    for parser in group.choices.values():
        parser.add_argument("--actor", default="cli", help="记入审计日志的操作人")
        parser.set_defaults(func=cmd_group)


def add_similar_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("index", help="把档案（或 sqmy batch 的输出）加入相似留言索引")
    p.add_argument("input", type=Path, nargs="?")
    p.add_argument("--encoder", type=Path, help="安装语义编码器（e5 编码器或其蒸馏学生的目录），用于相似留言重排序")
    p.add_argument("--sheet")
    p.add_argument("--prefix", help="条目编号前缀（默认由文件名生成）")
    p.set_defaults(func=cmd_index)
    p = sub.add_parser("cluster", help="把一批条目聚成建议的并案组（JSON/JSONL）")
    p.add_argument("input", type=Path)
    p.add_argument("output", type=Path, help=".json 或 .jsonl")
    p.add_argument("--sheet")
    p.set_defaults(func=cmd_cluster)
    p = sub.add_parser("hotspots", help="热点问题：按组的条数和增长排序（档案或已索引条目）")
    p.add_argument("input", type=Path, nargs="?", help="档案文件；省略时用已索引的条目")
    p.add_argument("--from", dest="start", help="起始日期 YYYY-MM-DD")
    p.add_argument("--to", help="结束日期 YYYY-MM-DD")
    p.add_argument("--window", type=int, default=7, help="增长比较的窗口天数")
    p.add_argument("--limit", type=int, default=20)
    p.set_defaults(func=cmd_hotspots)
    _group_parsers(sub)
