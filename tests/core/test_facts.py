"""The facts inside an item (sqmy.core.facts) and the masking of phone and ID numbers (sqmy.core.pii), on
hand-written sentences."""

import pytest

from sqmy.core.facts import extract_facts, places
from sqmy.core.pii import find_contacts, mask_pii, mask_values

ID_18 = "11010519491231002X"  # the standard's example: valid checksum, date and county code
ID_15 = "110105491231002"  # the same person's old 15-digit card


def kinds(text, kind, **kwargs):
    return [(f.text, f.level) if f.kind == "place" else f.text for f in extract_facts(text, **kwargs) if f.kind == kind]


@pytest.mark.parametrize(("text", "expected"), [
    ("联系电话13812345678，谢谢", ["13812345678"]),
    ("手机：+86 139 1234 5678。", ["+86 139 1234 5678"]),
    ("请拨008615912345678", ["008615912345678"]),
    ("座机0571-88776655或(010)62345678", ["0571-88776655", "(010)62345678"]),
    ("电话：１３８１２３４５６７８（全角）", ["１３８１２３４５６７８"]),
    ("村委会电话：87654321", ["87654321"]),
])
def test_phone_numbers_are_found_in_their_written_form(text, expected):
    assert kinds(text, "phone") == expected


@pytest.mark.parametrize("text", [
    "订单号202612071234567890已付款", "快递单号773123456789012", "金额12345678.50元", "工号12345678",
    "2026年12月07日晚上8点", "门牌号3栋2单元1201室", "银行卡6222021234567890123", "编号12812345678901",
])
def test_order_amount_date_and_card_numbers_are_no_phone_or_id(text):
    assert [f for f in extract_facts(text) if f.kind in ("phone", "id_number")] == []


def test_id_numbers_need_a_valid_checksum_date_and_county():
    assert kinds(f"身份证号{ID_18}，旧证{ID_15}", "id_number") == [ID_18, ID_15]
    assert kinds(f"身份证号{ID_18.lower()}", "id_number") == [ID_18.lower()]
    assert kinds("身份证号110105194912310021", "id_number") == []  # wrong check digit
    assert kinds("证号990105194912310028", "id_number") == []  # no such province


def test_licence_plates_including_new_energy():
    assert kinds("车牌浙A·D12345、粤B12345F和苏E8K7J2乱停", "plate") == ["浙A·D12345", "粤B12345F", "苏E8K7J2"]
    assert kinds("型号AB12345，浙江A级景区", "plate") == []


def test_places_at_every_level_with_offsets():
    text = "浙江省杭州市西湖区留下街道反映：青溪市青石镇幸福村3组、阳光花园小区5幢、建设东路128号都有问题。"
    facts = extract_facts(text, localities=["青石镇", "青溪市"])
    assert [(f.text, f.level) for f in facts if f.kind == "place"] == [
        ("浙江省", "province"), ("杭州市", "city"), ("西湖区", "county"), ("留下街道", "street"),
        ("青溪市", "city"), ("青石镇", "town"), ("幸福村", "village"), ("阳光花园小区", "estate"),
        ("建设东路", "road")]
    assert all(text[f.start:f.end] == f.text for f in facts)
    assert places(facts, "town", "street") == ["留下街道", "青石镇"]


@pytest.mark.parametrize("text", [
    "我们小区门口的道路坑坑洼洼", "农村的村民反映城乡公交少", "这条马路天天堵车", "街道办事处不管", "老旧小区改造慢",
])
def test_generic_words_are_no_places(text):
    assert kinds(text, "place") == []


def test_persons_by_name_and_by_surname_with_title():
    assert kinds("市民张建国反映，李先生和王某某也说过", "person") == ["张建国", "李先生", "王某某"]


def test_facts_are_masked_on_request_and_keep_their_offsets():
    text = f"电话13812345678，身份证{ID_18}"
    facts = extract_facts(text, mask=True)
    assert [f.text for f in facts] == ["138****5678", "110***********002X"]
    assert [text[f.start:f.end] for f in facts] == ["13812345678", ID_18]


def test_masking_keeps_length_and_hides_the_middle_digits():
    text = f"手机13812345678，座机0571-88776655，+86 139 1234 5678，身份证{ID_18}，订单202612071234567890"
    masked = mask_pii(text)
    assert len(masked) == len(text)
    assert masked == ("手机138****5678，座机0571-****6655，+86 139 **** 5678，身份证110***********002X，"
                      "订单202612071234567890")
    assert find_contacts(masked) == []
    assert mask_values({"a": [13812345678, "x"], "b": 7}) == {"a": ["138****5678", "x"], "b": 7}


def test_title_and_empty_text():
    assert extract_facts("") == []
    assert extract_facts("电话13812345678", kinds=("place",)) == []
