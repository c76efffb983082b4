"""Facts as citizens write them (issue #17, cases from the hand-written set's dev split): phone numbers grouped any
way, with extensions and service numbers; plates as written; towns from the national table; places right after an
administrative name; estates known by their building; named non-administrative places; nicknames and titles."""

import pytest

from sqmy.core.facts import extract_facts
from sqmy.core.pii import find_contacts, mask_pii


def found(text, kind, **kwargs):
    return [(f.text, f.level) if f.kind == "place" else f.text for f in extract_facts(text, **kwargs)
            if f.kind == kind]


@pytest.mark.parametrize(("text", "number", "masked"), [
    ("单位电话029-85261943转2206，白天打", "029-85261943转2206", "029-****1943转2206"),
    ("总机0731-84521234-6012。", "0731-84521234-6012", "0731-****1234-6012"),
    ("座机025-84321234分机2031", "025-84321234分机2031", "025-****1234分机2031"),
])
def test_a_landline_with_its_extension_is_one_phone_and_masked_whole(text, number, masked):
    assert found(text, "phone") == [number]
    assert found(text, "phone", mask=True) == [masked]
    assert mask_pii(text) == text.replace(number, masked)  # what exports and logs carry
    assert find_contacts(mask_pii(text)) == []


@pytest.mark.parametrize(("text", "expected"), [
    ("电话1595 9212 438。", ["1595 9212 438"]),
    ("电话0351-5601 283，企业", ["0351-5601 283"]),
    ("电话0311—8602 4417。", ["0311—8602 4417"]),
    ("商家电话010-62753\u3000901。", ["010-62753\u3000901"]),
    ("客服400-836-1208不处理，值班电话400 0288 517，另一个4008-119-220", ["400-836-1208", "400 0288 517",
                                                                       "4008-119-220"]),
    ("号码为+86 0755 8462 1033的来电", ["+86 0755 8462 1033"]),
    ("电话１３９－１２３４－５６７８", ["１３９－１２３４－５６７８"]),
])
def test_phone_numbers_grouped_any_way_and_service_numbers(text, expected):
    assert found(text, "phone") == expected


@pytest.mark.parametrize("text", [
    "我的号码138****6620已经被公开", "电力客服95598说给核查", "拨打12345和023-12345都没人接",
    "卡号6228 1380 0000 1234被盗刷", "短信通道号1069 0329517", "订单号 23120519470815632",
    "身份证350203198107296821（念的可能有误）", "欠款金额13860元，工号2019031536",
])
def test_masked_short_service_card_order_and_wrong_checksum_numbers_are_no_phone_or_id(text):
    assert [f.text for f in extract_facts(text) if f.kind in ("phone", "id_number")] == []


def test_plates_as_written_trailers_and_new_energy():
    assert found("被一辆货车蒙A·H3720挂剐蹭，车牌粤B·D03K72的车", "plate") == ["蒙A·H3720挂", "粤B·D03K72"]


def test_towns_come_from_the_national_table_but_not_from_inside_a_word():
    assert found("平江县三市镇坪上村村支书", "place") == [
        ("平江县", "county"), ("三市镇", "town"), ("坪上村", "village")]
    assert found("阿克苏市依干其乡红枣收购商", "place") == [("阿克苏市", "county"), ("依干其乡", "town")]
    assert found("部分乡镇农村自建房加层现象较多", "place") == []  # 分乡镇 is a town, but not here


def test_a_place_right_after_an_administrative_name_starts_after_it():
    assert found("我市天河区冼村、海珠区康乐村等城中村", "place") == [
        ("天河区", "county"), ("冼村", "village"), ("海珠区", "county"), ("康乐村", "village")]
    assert found("三江侗族自治县同乐苗族乡高岜村", "place") == [
        ("三江侗族自治县", "county"), ("同乐苗族乡", "town"), ("高岜村", "village")]
    assert found("贵州省黔东南州剑河县", "place") == [
        ("贵州省", "province"), ("黔东南州", "city"), ("剑河县", "county")]


def test_villages_the_segmenter_splits_and_generic_ones():
    assert found("沿线展留村、九佑村等村群众", "place") == [("展留村", "village"), ("九佑村", "village")]
    assert found("我们后沟村的村医", "place") == [("后沟村", "village")]
    assert found("支持村集体发展光伏，加快村卫生室建设，不少行政村", "place") == []


def test_estates_known_by_their_building_and_roads_before_a_crossing():
    assert found("现暂住在朋友家翠湖天地3栋", "place") == [("翠湖天地", "estate")]
    assert found("靠近体育路口有一个大坑，金山路与工业大道交汇处", "place") == [
        ("体育路", "road"), ("金山路", "road"), ("工业大道", "road")]


def test_named_places_that_are_no_administrative_unit():
    assert found("入职昆山开发区一家电子厂", "place") == [("昆山开发区", "other")]
    assert found("来福士广场门口天天有人发传单", "place") == [("来福士广场", "other")]
    assert found("地铁3号线龙华站周边", "place") == [("龙华站", "other")]
    assert found("建议在凤凰县沱江沿岸规划", "place") == [("凤凰县", "county"), ("沱江", "other")]
    assert found("帮助企业开拓新兴市场", "place") == []


def test_two_character_counties_only_as_words():
    assert found("2023年3月在滑县购买拖拉机", "place") == [("滑县", "county")]
    assert found("形成县域经济新格局", "place") == []


@pytest.mark.parametrize(("text", "expected"), [
    ("来电人张德福反映：本人是村民", ["张德福"]),
    ("楼上老张家装修，物业小王说管不了", ["老张", "小王"]),
    ("游客黄女士来电反映", ["黄女士"]),
    ("数学老师张老师因为孩子没写完作业", ["张老师"]),
    ("来电人阎师傅，电话另告", ["阎师傅"]),
    ("提案人：泽仁拉姆。", ["泽仁拉姆"]),
    ("表扬心内科何医生", ["何医生"]),
])
def test_persons_by_nickname_title_and_role(text, expected):
    assert found(text, "person") == expected


@pytest.mark.parametrize("text", [
    "排了两个小时，是不是被黄牛抢了", "老党员带头，卫星遥感核定边界", "申请林权证两年未办", "来电人向乡里反映过",
])
def test_common_words_are_no_persons(text):
    assert found(text, "person") == []


@pytest.mark.parametrize("text", [
    "推进城乡建设乡村振兴，发展乡村旅游", "走向城镇化道路", "及时回应居民关切。", "确保乘客安全。", "养老金按时发放",
    "任何医生都不能拒诊", "打造一江两岸景观", "在重点路口设置抓拍", "推动快递进村，完善村级服务站",
])
def test_common_phrases_from_policy_texts_are_no_facts(text):
    assert [(f.kind, f.text) for f in extract_facts(text) if f.kind in ("place", "person")] == []


def test_a_city_name_inside_a_named_place_stays_with_it():
    assert found("猫咪在广州机场被要求补办", "place") == [("广州机场", "other")]
