"""Retraining pieces: corrections overlay the corpus, the promotion gate, the registry's history."""

from __future__ import annotations

import json

import pytest

from sqmy.models import ModelRegistry
from sqmy.training.compare import Gate, compare_reports
from sqmy.training.data import LabeledItem
from sqmy.training.retrain import overlay
from tests.cli.test_cli import sqmy


def _item(id_, topic=None, lead=None, assists=None, text="正文"):
    return LabeledItem(id=id_, title="", text=text, topic_l1=topic, lead=lead, assists=assists)


def test_a_correction_overrides_only_the_labels_it_carries():
    base = [_item("a", "城乡建设", "市住房和城乡建设局", ("城东街道",)), _item("b", "教育文体", "市教育局", ())]
    merged = {i.id: i for i in overlay(base, [_item("a", "环境保护"), _item("c", "交通运输", text="新条目")])}
    assert merged["a"].topic_l1 == "环境保护"
    assert merged["a"].lead == "市住房和城乡建设局" and merged["a"].assists == ("城东街道",)  # departments kept
    assert merged["b"] == base[1] and merged["c"].text == "新条目"


def _report(macro, per_class, version="v"):
    return {"model_version": version, "n_items": 100, "topic": {
        "macro_f1": macro, "accuracy": macro,
        "per_class": {k: {"f1": f, "support": s} for k, (f, s) in per_class.items()}}}


@pytest.mark.parametrize(("candidate", "passed", "reason"), [
    (_report(0.795, {"甲": (0.80, 50), "乙": (0.79, 50)}), True, "未发现退化"),  # −0.5 point: within the gate
    (_report(0.780, {"甲": (0.78, 50), "乙": (0.78, 50)}), False, "宏平均 F1 下降 2.0"),
    (_report(0.800, {"甲": (0.95, 50), "乙": (0.65, 50)}), False, "类别“乙”F1 下降 15.0"),
    (_report(0.800, {"甲": (0.80, 50), "乙": (0.80, 50), "丙": (0.5, 3)}), True, "未发现退化"),  # tiny class
])
def test_gate(candidate, passed, reason):
    current = _report(0.80, {"甲": (0.80, 50), "乙": (0.80, 50), "丙": (0.8, 3)}, "old")
    report = compare_reports(candidate, current, Gate(0.01, 0.10, 5))
    assert report["passed"] is passed
    assert any(reason in r for r in report["reasons"])
    assert report["per_class"]["甲"]["before"] == 0.80


def test_gate_refuses_when_it_cannot_compare():
    """No evaluation items means no evidence: the candidate is not promoted silently (force still can)."""
    current = _report(0.80, {"甲": (0.80, 50)}, "old")
    empty = {"model_version": "new", "n_items": 0}
    report = compare_reports(empty, current, Gate())
    assert report["passed"] is False and "无法" in report["reasons"][0]
    assert compare_reports(empty, None, Gate())["passed"] is True  # nothing served yet: the first model goes live


def test_registry_history_and_rollback_target(trained_home, tmp_path, tiny_corpus_dir, labels):
    import shutil

    from sqmy.training.data import corpus_files, load_items
    from sqmy.training.train import train_and_register

    shutil.copytree(trained_home, tmp_path / "h")
    registry = ModelRegistry(tmp_path / "h" / "models")
    first = registry.current("tfidf")
    items = load_items(corpus_files(tiny_corpus_dir), labels).items
    second = train_and_register("tfidf", items, registry, promote=True, log=lambda _m: None)["version"]
    assert registry.current("tfidf") == second and registry.rollback_target("tfidf") == first
    with pytest.raises(ValueError):
        registry.set_current("bert", second)  # a TF-IDF version cannot serve as BERT
    assert [m["version"] for m in registry.versions()][:2] == [second, first]
    assert (registry.path(second) / "eval.jsonl").is_file()


def test_feedback_import_reports_bad_rows_and_keeps_going(home, tmp_path, tiny_corpus_dir):
    rows = [
        "编号,标题,正文,分类,主办单位,协办单位",
        "f-1,路灯,新民路路灯坏了,城乡建设/城市建设和市政管理,综合执法局,青石镇",
        "f-2,,学校乱收费,外星事务,市教育局,",
        "f-3,,出租车拒载,交通运输,火星局,",
        "f-4,,,交通运输,市交通运输局,",
        "f-5,,公交太少,交通运输,市交通运输局,",
    ]
    path = tmp_path / "fixes.csv"
    path.write_bytes("\n".join(rows).encode("gb18030"))  # offices export GBK
    done = sqmy(home, "feedback", "import", path, "--editor", "李科长")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["stored"] == 2
    assert [(e["row"], e["field"]) for e in report["errors"]] == [(2, "topic"), (3, "departments.0.name"),
                                                                  (4, "text")]
    assert "第 2 行" in done.stderr

    current = ModelRegistry(home / "models").current("tfidf")
    retrained = sqmy(home, "retrain", "--engine", "tfidf", "--promote", "never",
                     SQMY_CORPUS_DIR=str(tiny_corpus_dir))
    assert retrained.returncode == 0, retrained.stderr
    outcome = json.loads(retrained.stdout)
    assert outcome["corrections"] == 2 and not outcome["engines"]["tfidf"]["promoted"]
    assert ModelRegistry(home / "models").current("tfidf") == current  # --promote never


def test_site_archive_with_topics_only_keeps_departments_and_survives_retrain(tmp_path, tiny_corpus_dir, labels):
    """A site trains on its own archive (level-1 topic only, no departments), then retrains with corrections."""
    from sqmy.training.data import corpus_files, load_items

    items = load_items(corpus_files(tiny_corpus_dir), labels).items
    archive = tmp_path / "archive.jsonl"
    archive.write_text("\n".join(json.dumps({"id": f"arc-{n}", "title": i.title, "text": i.text,
                                             "topic": i.topic_l1}, ensure_ascii=False)
                                 for n, i in enumerate(items)), encoding="utf-8")
    home = tmp_path / "home"
    done = sqmy(home, "train", "--engine", "tfidf", "--no-corpus", "--data", archive, "--promote",
                SQMY_CORPUS_DIR=str(tiny_corpus_dir))
    assert done.returncode == 0, done.stderr
    assert "承办单位模型改用自带语料" in done.stderr
    meta = json.loads(done.stdout)
    assert meta["data"]["corpus_use"] == "departments" and meta["data"]["sources"] == [str(archive)]
    routed = json.loads(sqmy(home, "classify", "老板拖欠工资三个月不发", SQMY_CORPUS_DIR=str(tiny_corpus_dir)).stdout)
    assert routed["topic"] == "劳动和社会保障" and routed["departments"][0]["role"] == "lead"

    again = sqmy(home, "retrain", "--engine", "tfidf", SQMY_CORPUS_DIR=str(tiny_corpus_dir))
    assert again.returncode == 0, again.stderr
    new = ModelRegistry(home / "models").path(json.loads(again.stdout)["engines"]["tfidf"]["version"])
    data = json.loads((new / "metadata.json").read_text(encoding="utf-8"))["data"]
    assert data["sources"] == [str(archive)] and data["corpus_use"] == "departments"


def test_bert_training_on_a_student_encoder_uses_the_prefix_and_token_budget_it_was_distilled_with(tmp_path):
    """`SQMY_BERT_BASE=<student>` alone: the student's e5 prefix and 128 tokens, unless the site sets its own."""
    from sqmy.core.config import Settings
    from sqmy.training.retrain import bert_params

    student = tmp_path / "e5-small-zh-s6-128"
    student.mkdir()
    (student / "student.json").write_text(json.dumps({"max_length": 128, "prefix": "passage: ", "layers": [0, 2]}))
    params = bert_params(Settings(HOME=tmp_path, BERT_BASE=student))
    assert (params["max_length"], params["prefix"]) == (128, "passage: ")
    assert bert_params(Settings(HOME=tmp_path, BERT_BASE=student, BERT_MAX_LENGTH=64))["max_length"] == 64

    other = tmp_path / "bert-base-chinese"  # any other checkpoint: no prefix, the probe's 256 tokens
    other.mkdir()
    params = bert_params(Settings(HOME=tmp_path, BERT_BASE=other))
    assert (params["max_length"], params.get("prefix")) == (256, None)


def test_with_the_student_on_the_probe_uses_it_and_fine_tuning_the_full_encoder(tmp_path, monkeypatch):
    """SQMY_BERT_STUDENT=true: the distilled student for the corpus probe, e5-small's 12 layers when a site's own
    files fine-tune it (what was measured for each); off (the default) keeps the 12 layers for both."""
    from sqmy.core.config import Settings
    from sqmy.training import retrain

    built: list[str] = []
    for name in ("e5-small-zh", "e5-small-zh-s6-128", "e5-small-zh-s6-128-short"):
        (tmp_path / "encoders" / name).mkdir(parents=True)
        (tmp_path / "encoders" / name / "config.json").write_text("{}")
    (tmp_path / "encoders" / "e5-small-zh-s6-128-short" / "student.json").write_text(
        json.dumps({"max_length": 128, "prefix": "passage: "}))
    monkeypatch.setattr("sqmy.models.e5.convert.convert", lambda out: built.append(str(out)))
    probe = retrain.bert_params(Settings(HOME=tmp_path, BERT_STUDENT=True))
    assert probe["base"].endswith("e5-small-zh-s6-128-short") and probe["max_length"] == 128
    fine = retrain.bert_params(Settings(HOME=tmp_path, BERT_STUDENT=True), site_data=True)
    assert fine["base"].endswith("e5-small-zh") and fine["epochs"] == 2 and fine["max_length"] == 128
    off = retrain.bert_params(Settings(HOME=tmp_path))
    assert off["base"].endswith("e5-small-zh") and off["max_length"] == 256 and off["prefix"] == "passage: "
    assert not built  # both encoders present: nothing converted or distilled


def test_the_default_student_gets_a_second_pass_with_short_requests(tmp_path, monkeypatch):
    """A site whose student was distilled before (one pass on full texts) gets the second pass, started from it,
    on the same texts plus short requests cut from the corpus; the first pass is not distilled again."""
    from sqmy.core.config import Settings
    from sqmy.training import retrain, student

    for name in ("e5-small-zh", "e5-small-zh-s6-128"):
        (tmp_path / "encoders" / name).mkdir(parents=True)
        (tmp_path / "encoders" / name / "config.json").write_text("{}")
    calls: list[dict] = []

    def build(settings, teacher, out, args, *, max_texts=None, short_views=0, log=print):
        calls.append({"out": out.name, "init": args.init, "epochs": args.epochs, "texts": max_texts,
                      "short_views": short_views})
        out.mkdir(parents=True)
        (out / "config.json").write_text("{}")
        return {}

    monkeypatch.setattr(student, "build_student", build)
    path = retrain.default_student(Settings(HOME=tmp_path), log=lambda _m: None)
    assert path.name == "e5-small-zh-s6-128-short"
    assert calls == [{"out": "e5-small-zh-s6-128-short", "init": str(tmp_path / "encoders" / "e5-small-zh-s6-128"),
                      "epochs": 1.0, "texts": 6000, "short_views": 6000}]
    assert retrain.default_student(Settings(HOME=tmp_path), log=lambda _m: None) == path and len(calls) == 1
