import json

import pytest

from sqmy.training.data import is_eval_item, load_items, merge_items, parse_item


def test_corpus_format_is_parsed(labels):
    item = parse_item({"id": "a", "title": "t", "text": "路灯坏了", "topic_path": ["城乡建设", "城市建设和市政管理"],
                       "lead": "城管", "assist": ["青石镇"]}, labels)
    assert (item.topic_l1, item.topic_l2) == ("城乡建设", "城乡建设/城市建设和市政管理")
    assert item.lead == "市综合行政执法局" and item.assists == ("青石镇",)


def test_level1_only_archive_row_has_no_department_labels(labels):
    item = parse_item({"id": "x", "title": "", "text": "噪音扰民", "topic": "环境保护"}, labels)
    assert item.topic_l1 == "环境保护" and item.topic_l2 is None
    assert item.lead is None and item.assists is None


def test_departments_list_with_roles(labels):
    item = parse_item({"text": "拖欠工资", "topic": "劳动和社会保障", "departments": [
        {"name": "市总工会", "role": "assist"}, {"name": "人社局", "role": "lead"}]}, labels)
    assert item.lead == "市人力资源和社会保障局" and item.assists == ("市总工会",)


@pytest.mark.parametrize(("record", "message"), [
    ({"text": "  ", "topic": "环境保护"}, "text"),
    ({"text": "有内容", "topic": "不存在"}, "不存在"),
    ({"text": "有内容", "topic": "环境保护", "lead": "市不存在局"}, "市不存在局"),
    ({"text": "有内容"}, "没有任何标签"),
])
def test_bad_rows_are_rejected_with_the_reason(labels, record, message):
    with pytest.raises(ValueError, match=message):
        parse_item(record, labels)


def test_load_items_reports_bad_rows_and_keeps_good_ones(tmp_path, labels):
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join([
        json.dumps({"id": "1", "text": "噪音扰民", "topic": "环境保护"}, ensure_ascii=False),
        "{not json",
        json.dumps({"id": "3", "text": "x", "topic": "不存在"}, ensure_ascii=False),
    ]) + "\n", encoding="utf-8")
    report = load_items([path], labels)
    assert [i.id for i in report.items] == ["1"]
    assert [e["row"] for e in report.errors] == [2, 3]


def test_gbk_csv_is_read(tmp_path, labels):
    path = tmp_path / "archive.csv"
    path.write_bytes("id,title,text,topic\n1,讨薪,老板拖欠工资,劳动和社会保障\n".encode("gbk"))
    report = load_items([path], labels)
    assert report.items[0].text == "老板拖欠工资" and not report.errors


def test_corrections_override_by_id(labels):
    a = parse_item({"id": "1", "text": "噪音", "topic": "环境保护"}, labels)
    b = parse_item({"id": "1", "text": "噪音", "topic": "城乡建设"}, labels)
    assert [i.topic_l1 for i in merge_items([a], [b])] == ["城乡建设"]


def test_evaluation_split_is_stable_and_about_the_right_size():
    ids = [f"item-{n}" for n in range(5000)]
    share = sum(is_eval_item(i, 0.1) for i in ids) / len(ids)
    assert 0.08 < share < 0.12
    assert [is_eval_item(i, 0.1) for i in ids[:50]] == [is_eval_item(i, 0.1) for i in ids[:50]]


def test_the_taxonomy_names_join_the_corpus_and_are_never_held_out(tmp_path, labels, tiny_corpus_dir):
    from sqmy.training.data import TAXONOMY_ID_PREFIX, build_training_set
    from sqmy.training.train import split_items

    with_corpus = build_training_set(tiny_corpus_dir, [], labels)
    names = [i for i in with_corpus.items if i.id.startswith(TAXONOMY_ID_PREFIX)]
    assert len(names) == sum(1 for leaf in labels.taxonomy.leaves if not leaf.endswith("/其他"))
    assert any(i.text == "户籍证件：户籍管理" and i.topic_l3 == "政法/户籍证件/户籍管理" for i in names)
    _train, held_out = split_items(with_corpus.items, 0.5)
    assert held_out and not any(i.id.startswith(TAXONOMY_ID_PREFIX) for i in held_out)
    archive = tmp_path / "archive.jsonl"
    archive.write_text('{"id": "a1", "text": "路灯坏了", "topic": "城乡建设"}\n', encoding="utf-8")
    site_only = build_training_set(tiny_corpus_dir, [archive], labels, use_corpus=False)
    assert not any(i.id.startswith(TAXONOMY_ID_PREFIX) for i in site_only.items)  # a site's own archive alone
