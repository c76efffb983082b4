"""The ``sqmy`` console script, run as a user would (subprocesses, real files)."""

import csv
import json
import subprocess

from tests.conftest import SQMY, sqmy_env


def sqmy(home, *args, stdin=None, **env):
    if isinstance(stdin, str):
        stdin = stdin.encode("utf-8")
    done = subprocess.run([SQMY, *map(str, args)], env=sqmy_env(home, **env), input=stdin, capture_output=True,
                          timeout=300)
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(), done.stderr.decode())


def test_train_builds_and_promotes_a_model(tmp_path, tiny_corpus_dir, labels):
    home = tmp_path / "home"
    leaves = sum(1 for leaf in labels.taxonomy.leaves if not leaf.endswith("/其他"))  # the taxonomy's own names
    done = sqmy(home, "train", "--engine", "tfidf", "--corpus", tiny_corpus_dir, "--eval-fraction", "0.2")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["promoted"] and out["engine"] == "tfidf"
    assert out["data"]["n_train"] + out["data"]["n_eval"] == 42 + leaves
    assert "topic" in out["metrics"]
    assert json.loads((home / "models" / "current.json").read_text())["tfidf"] == out["version"]
    again = sqmy(home, "train", "--engine", "tfidf", "--corpus", tiny_corpus_dir, "--if-missing")
    assert again.returncode == 0 and "跳过" in again.stderr


def test_classify_argument_and_stdin(home):
    by_arg = sqmy(home, "classify", "工厂排放废气，臭味刺鼻", "--title", "废气污染")
    assert by_arg.returncode == 0, by_arg.stderr
    result = json.loads(by_arg.stdout)
    assert result["topic"] == "环境保护" and result["engine"] == "tfidf"
    by_stdin = sqmy(home, "classify", stdin="公司拖欠工资半年了")
    assert json.loads(by_stdin.stdout)["topic"] == "劳动和社会保障"


def test_classify_empty_text_is_an_error(home):
    done = sqmy(home, "classify", stdin="   \n")
    assert done.returncode == 2 and "正文为空" in done.stderr


def test_classify_without_model_says_how_to_train(tmp_path):
    done = sqmy(tmp_path / "empty", "classify", "路灯坏了")
    assert done.returncode == 2 and "sqmy train" in done.stderr


def test_batch_jsonl_keeps_columns_and_reports_bad_rows(home, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join([
        json.dumps({"id": "a", "title": "讨薪", "text": "老板拖欠工资", "extra": 1}, ensure_ascii=False),
        json.dumps({"id": "b", "text": ""}, ensure_ascii=False),
        "{broken",
        json.dumps({"id": "c", "text": "河水被工厂污染"}, ensure_ascii=False),
    ]) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    done = sqmy(home, "batch", src, out, "--engine", "tfidf")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["classified"], summary["errors"]) == (2, 2)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["a", "c"] and rows[0]["extra"] == 1
    assert {"topic", "topic_path", "departments", "engine", "model_version", "needs_review"} <= set(rows[0])
    errors = [json.loads(line) for line in (tmp_path / "out.jsonl.errors.jsonl").read_text().splitlines()]
    assert [e["row"] for e in errors] == [2, 3]
    assert "已处理" in done.stderr


def test_batch_gbk_csv_with_chinese_headers_to_csv(home, tmp_path):
    src = tmp_path / "archive.csv"
    src.write_bytes("编号,标题,留言详情\n1,出租车,出租车不打表乱收费\n2,学校,学校乱收费\n".encode("gbk"))
    out = tmp_path / "out.csv"
    done = sqmy(home, "batch", src, out)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["编号"] for r in rows] == ["1", "2"]
    assert rows[0]["topic"] == "交通运输" and rows[0]["topic_path"].split(" / ")[0] == "交通运输"


def test_batch_with_unloaded_engine_fails_clearly(home, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "路灯坏了"}\n', encoding="utf-8")
    done = sqmy(home, "batch", src, tmp_path / "out.jsonl", "--engine", "bert")
    assert done.returncode == 2 and "bert" in done.stderr


def test_eval_reports_metrics_for_the_labels_present(home, tmp_path):
    data = tmp_path / "gold.jsonl"
    rows = [{"id": "1", "text": "工厂偷排污水", "topic": "环境保护"},
            {"id": "2", "text": "拖欠工资三个月", "topic": "劳动和社会保障"},
            {"id": "3", "text": "出租车拒载", "topic": "交通运输"}]
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    done = sqmy(home, "eval", data)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["topic"]["n"] == 3 and "lead" not in report
    assert set(report["topic"]["per_class"]) == {"环境保护", "劳动和社会保障", "交通运输"}
    assert report["topic"]["confusion"]["rows"] == sorted(report["topic"]["per_class"])
    assert report["topic"]["accuracy"] == 1.0


def test_classify_reads_gbk_from_stdin(home):
    done = sqmy(home, "classify", stdin="出租车司机拒载还不打表".encode("gbk"))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["topic"] == "交通运输"


def test_serve_refuses_a_broken_directory_file(home, tmp_path):
    broken = tmp_path / "departments.yaml"
    broken.write_text("units:\n  - {id: a, name: 市甲局, leads: [不存在/不存在]}\n", encoding="utf-8")
    done = sqmy(home, "serve", SQMY_DIRECTORY_PATH=str(broken))
    assert done.returncode == 2 and "不存在/不存在" in done.stderr and "departments.yaml" in done.stderr
