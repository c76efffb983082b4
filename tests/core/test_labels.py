import csv
from pathlib import Path

import pytest

from sqmy.core.config import Settings
from sqmy.core.labels import Directory, LabelFileError, Taxonomy, UnknownLabelError
from tests.conftest import SHARED_DATA

REQUIRED_UNITS = ["市发展和改革局", "市经济和信息化局", "市教育局", "市科学技术局", "市公安局", "市民政局", "市司法局", "市财政局", "市人力资源和社会保障局", "市自然资源和规划局", "市生态环境分局", "市住房和城乡建设局", "市交通运输局", "市水利局", "市农业农村局", "市商务局", "市文化和广电旅游体育局", "市卫生健康局", "市退役军人事务局", "市应急管理局", "市市场监督管理局", "市医疗保障局", "市综合行政执法局", "市数据资源管理局", "市信访局", "市税务局", "市消防救援大队", "市供电公司", "市水务集团", "市总工会", "团市委", "市妇联", "市残联", "市科协", "市工商联", "市委宣传部", "市委统战部", "市委组织部", "市纪委市监委"]


def test_taxonomy_has_15_level1_topics(labels):
    assert len(labels.taxonomy.level1) == 15
    assert "城乡建设/住房保障与房地产" in labels.taxonomy.paths


@pytest.mark.skipif(not (SHARED_DATA / "message-taxonomy.csv").is_file(), reason="../shared/data not present")
def test_taxonomy_names_match_the_reference(labels):
    rows = list(csv.DictReader((SHARED_DATA / "message-taxonomy.csv").open(encoding="utf-8")))
    assert labels.taxonomy.level1 == list(dict.fromkeys(r["level1"] for r in rows))
    assert set(labels.taxonomy.paths) == {f"{r['level1']}/{r['level2']}" for r in rows}


def test_directory_has_every_required_unit_and_localities(labels):
    assert set(REQUIRED_UNITS) <= set(labels.directory.unit_names)
    assert any(loc.name.endswith("镇") for loc in labels.directory.localities)
    assert any(loc.name.endswith("街道") for loc in labels.directory.localities)


def test_aliases_resolve_to_the_full_name(labels):
    assert labels.directory.resolve("城管") == "市综合行政执法局"
    assert labels.directory.resolve("人社局") == "市人力资源和社会保障局"


def test_a_town_can_lead_local_matters(labels):
    assert labels.directory.resolve("青石镇", lead=True) == "青石镇"
    with pytest.raises(UnknownLabelError, match="主办单位"):
        labels.directory.resolve("不存在的镇", lead=True)


def test_level3_paths_are_checked(labels):
    assert labels.taxonomy.check_leaf("政法/户籍证件/户籍管理") == ("政法", "户籍证件", "户籍管理")
    assert labels.taxonomy.check_leaf("政法/户籍证件") == ("政法", "户籍证件", None)
    with pytest.raises(UnknownLabelError, match="三级分类"):
        labels.taxonomy.check_leaf("政法/户籍证件/不存在的三级")


def test_unknown_topic_is_rejected_with_its_name(labels):
    with pytest.raises(UnknownLabelError, match="不存在的分类"):
        labels.taxonomy.check_path("不存在的分类")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "file.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_directory_with_unknown_topic_names_unit_and_topic(tmp_path, labels):
    path = _write(tmp_path, "units:\n  - {id: a, name: 市甲局, leads: [城乡建设/没有这个]}\n")
    with pytest.raises(LabelFileError, match=r"市甲局.*城乡建设/没有这个"):
        Directory.load(path, labels.taxonomy)


def test_directory_with_duplicate_alias_is_rejected(tmp_path, labels):
    path = _write(tmp_path, "units:\n  - {id: a, name: 市甲局, aliases: [甲]}\n  - {id: b, name: 市乙局, aliases: [甲]}\n")
    with pytest.raises(LabelFileError, match="'甲'"):
        Directory.load(path, labels.taxonomy)


def test_directory_missing_field_is_reported(tmp_path, labels):
    with pytest.raises(LabelFileError, match="missing field 'name'"):
        Directory.load(_write(tmp_path, "units:\n  - {id: a}\n"), labels.taxonomy)


def test_broken_yaml_names_the_file(tmp_path):
    path = _write(tmp_path, "城乡建设: [\n")
    with pytest.raises(LabelFileError, match=r"file\.yaml"):
        Taxonomy.load(path)


def test_settings_reject_missing_label_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SQMY_DIRECTORY_PATH", str(tmp_path / "nope.yaml"))
    with pytest.raises(ValueError, match="SQMY_DIRECTORY_PATH"):
        Settings()
