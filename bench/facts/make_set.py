"""Write the labelled extraction set ``bench/facts/items.jsonl`` (issue #17): synthetic items, never trained on.

Every item is written from a hand-written template of one of four genres (12345 工单, 网络问政留言, 社情民意信息,
提案) whose slots are filled with fake values; the gold spans are recorded while the text is assembled, so the labels
are exact by construction. The values are fake but realistic: mobile numbers on assigned prefixes, landlines with
real area codes, ID numbers with a real county code, a possible birth date and the right check character, plates
in every current format, multi-level places from the national division codes plus hand-written towns, streets,
villages, estates and roads (some with suffixes outside the recogniser's list: a realistic miss). Distractors that
must not be taken for phones or ID numbers: order, contract, bank-card and express numbers (random digits of 15 to
20 digits, so a random one may by chance look like an ID), amounts, dates, times, house numbers.

    python bench/facts/make_set.py            # rewrites bench/facts/items.jsonl (seeded: the same file each time)
    python bench/facts/make_set.py --seed 99 --out /tmp/facts-99.jsonl   # a fresh draw from the same templates
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from sqmy.core.divisions import divisions
from sqmy.core.pii import check_digit

OUT = Path(__file__).with_name("items.jsonl")
Span = tuple[str, int, int, str | None]  # kind, start, end, level
Piece = tuple[str, list[Span]]

def words(spaced: str) -> list[str]:
    return spaced.split()


MOBILE_PREFIXES = words("130 131 132 133 134 135 136 137 138 139 150 151 152 153 155 156 157 158 159 166 173 176 177 "
                   "180 181 182 183 184 185 186 187 188 189 198 199")
AREA_CODES = words("010 020 021 022 023 024 025 027 028 029 0571 0574 0575 0576 0577 0578 0579 0580 0512 0510 0519 "
              "0531 0532 0371 0731 0851 0871 0791 0551 0591 0592 0755 0769 0757")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁沈姚卢"
GIVEN = words("建国 秀英 志强 丽华 小明 晓燕 海涛 桂兰 国庆 春梅 伟 芳 磊 静 军 敏 洪波 红霞 德胜 玉珍 文杰 雅琴 "
         "家豪 思远 永福 爱华 立新 淑芬 振华 美玲")
TITLES = words("先生 女士 师傅 阿姨 大爷")
TOWNS = words("桃源镇 龙潭镇 梅林镇 白沙镇 横山镇 长乐镇 新塘镇 石门镇 黄泥乡 安平乡 "
              "青石镇 溪口镇 柳湾镇 马家乡 凤鸣镇")
STREETS = words("城东街道 江滨街道 北山街道 文昌街道 新华街道 城西街道 南湖街道 翠屏街道 滨海街道 东湖街道")
VILLAGES = words("幸福村 李家村 东风村 红星村 向阳社区 下洋村 王家坝村 枫树湾村 新民社区 光明社区 石桥村 "
            "大坪村 桂花社区 上湾村 黄土岭村")
ESTATES = words("阳光花园小区 金色家园 翠竹苑 滨江公寓 锦绣华庭 碧水山庄 和平新村 紫荆花园 御景湾小区 "
           "香樟苑 天誉名邸 绿城桂花园 幸福里小区 万科城")
ROADS = words("人民路 建设东路 解放大道 中山北路 文化街 学府路 环城南路 胜利街 青年路 滨江大道 工农巷 迎宾大道 北门街")
ISSUES = (
    "路灯坏了一个多月，晚上出门很不安全", "下水道堵塞，污水漫到路面上", "夜间施工噪音扰民，孩子无法休息",
    "物业公司乱收停车费", "垃圾清运不及时，气味很大", "公交站台被占用，老人候车困难",
    "有人在绿化带里种菜，破坏公共绿地", "楼下烧烤店油烟直排，家里窗户都不敢开", "电动车飞线充电，存在火灾隐患",
    "门口道路坑洼积水，多次摔倒", "工地拖欠农民工工资三个月", "学校周边有人无证摆摊",
    "自来水水压太低，高层用不上水", "违章搭建的彩钢棚一直没人管", "河道里有人倾倒建筑垃圾",
)


class Writer:
    """Assembles a text from pieces, keeping the gold spans' offsets."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.spans: list[Span] = []
        self.size = 0

    def add(self, piece: Piece | str) -> Writer:
        text, spans = (piece, []) if isinstance(piece, str) else piece
        self.spans += [(k, self.size + s, self.size + e, level) for k, s, e, level in spans]
        self.parts.append(text)
        self.size += len(text)
        return self

    def item(self, n: int, genre: str) -> dict[str, object]:
        text = "".join(self.parts)
        gold = [{"kind": k, "start": s, "end": e, "text": text[s:e], **({"level": lv} if lv else {})}
                for k, s, e, lv in self.spans]
        return {"id": f"facts-{n:04d}", "genre": genre, "text": text, "gold": gold}


def one(kind: str, text: str, level: str | None = None) -> Piece:
    return text, [(kind, 0, len(text), level)]


def digits(r: random.Random, n: int) -> str:
    return "".join(r.choice("0123456789") for _ in range(n))


def mobile(r: random.Random) -> Piece:
    number = r.choice(MOBILE_PREFIXES) + digits(r, 8)
    style = r.random()
    if style < 0.6:
        return one("phone", number)
    if style < 0.75:
        return one("phone", f"{number[:3]}-{number[3:7]}-{number[7:]}")
    if style < 0.87:
        return one("phone", f"{number[:3]} {number[3:7]} {number[7:]}")
    return one("phone", r.choice(("+86 ", "+86", "86-", "0086")) + number)


def landline(r: random.Random) -> Piece:
    area = r.choice(AREA_CODES)
    local = r.choice("2345678") + digits(r, 7)
    return one("phone", r.choice((f"{area}-{local}", f"({area}){local}", f"（{area}）{local}", f"{area}{local}",
                                  f"{area} {local}")))


@lru_cache(maxsize=1)
def counties() -> list[str]:
    """Codes of current counties (not a city's own 市辖区 entry)."""
    return [code for code, names in divisions() if not code.endswith("00") and names[-1] != "市辖区"]


def id_number(r: random.Random, old: bool = False) -> Piece:
    county = r.choice(counties())
    born = f"{r.randint(1940, 2005)}{r.randint(1, 12):02d}{r.randint(1, 28):02d}"
    seq = digits(r, 3)
    if old:
        return one("id_number", county + born[2:] + seq)
    body = county + born + seq
    check = check_digit(body)
    return one("id_number", body + (check.lower() if check == "X" and r.random() < 0.3 else check))


def plate(r: random.Random) -> Piece:
    province = r.choice("京津沪渝冀豫云辽黑湘皖鲁苏浙赣鄂桂甘晋蒙陕吉闽贵粤川宁琼")
    letter = r.choice("ABCDEFGHJKLMNPQRSTUVWXY")
    alnum = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
    kind = r.random()
    if kind < 0.5:
        rest = r.choice("0123456789") + "".join(r.choice(alnum) for _ in range(4))
        rest = "".join(r.sample(rest, len(rest)))
    elif kind < 0.8:
        rest = r.choice("DF") + r.choice(alnum) + digits(r, 4)
    else:
        rest = digits(r, 5) + r.choice("DF")
    return one("plate", province + letter + r.choice(("", "", "·")) + rest)


def person(r: random.Random) -> Piece:
    surname = r.choice(SURNAMES)
    style = r.random()
    if style < 0.5:
        return one("person", surname + r.choice(GIVEN))
    if style < 0.85:
        return one("person", surname + r.choice(TITLES))
    return one("person", surname + r.choice(("某", "某某")))


def admin_chain(r: random.Random) -> Piece:
    """Province, city and county of a real county (the province or the county sometimes left out)."""
    table = {code: names[-1] for code, names in divisions()}
    while True:
        county = r.choice(counties())
        province, city = table.get(county[:2] + "0000", ""), table.get(county[:4] + "00", "")
        name = table[county]
        if province.endswith("省") and city.endswith("市") and name.endswith(("区", "县")) and len(name) >= 3:
            break
    levels = [("province", province), ("city", city), ("county", name)]
    if r.random() < 0.3:
        levels = levels[1:]
    elif r.random() < 0.2:
        levels = levels[:2]
    text, spans = "", []
    for level, value in levels:
        spans.append(("place", len(text), len(text) + len(value), level))
        text += value
    return text, spans


def local_place(r: random.Random) -> Piece:
    """A town or street, often with a village or estate, sometimes with a road and house number."""
    w = Writer()
    if r.random() < 0.5:
        w.add(one("place", r.choice(TOWNS), "town")).add(one("place", r.choice(VILLAGES), "village"))
        if r.random() < 0.5:
            w.add(f"{r.randint(1, 12)}组")
    else:
        w.add(one("place", r.choice(STREETS), "street"))
        w.add(one("place", r.choice(ESTATES), "estate") if r.random() < 0.6 else one("place", r.choice(ROADS), "road"))
    return "".join(w.parts), w.spans


def road(r: random.Random) -> Piece:
    w = Writer().add(one("place", r.choice(ROADS), "road")).add(f"{r.randint(1, 399)}号")
    return "".join(w.parts), w.spans


def estate(r: random.Random) -> Piece:
    w = Writer().add(one("place", r.choice(ESTATES), "estate"))
    w.add(r.choice((f"{r.randint(1, 30)}栋{r.randint(1, 4)}单元{r.randint(1, 30)}0{r.randint(1, 4)}室",
                    f"{r.randint(1, 20)}幢", "东门", "北区")))
    return "".join(w.parts), w.spans


def distractor(r: random.Random) -> str:
    """Numbers that are no phone and no ID number."""
    return r.choice((
        lambda: f"订单号{r.choice(('2025', '2026'))}{digits(r, r.choice((14, 16)))}",
        lambda: f"快递单号{r.choice(('773', '434', '312', '9'))}{digits(r, 12)}",
        lambda: f"快递单号SF{digits(r, 13)}",
        lambda: f"银行卡号{r.choice(('6222', '6217', '6228'))}{digits(r, r.choice((12, 15)))}",
        lambda: f"合同编号{digits(r, 18)}",
        lambda: f"发票号码{digits(r, 8)}",
        lambda: f"涉及金额{r.randint(1000, 999999)}元",
        lambda: f"{r.randint(2019, 2026)}年{r.randint(1, 12)}月{r.randint(1, 28)}日",
        lambda: f"晚上{r.randint(8, 11)}点{r.randint(10, 59)}分",
        lambda: f"工单编号{r.choice(('GD', 'ZX'))}{digits(r, 12)}",
        lambda: f"{r.randint(1, 30)}栋{r.randint(1, 4)}单元{r.randint(1, 30)}0{r.randint(1, 4)}室",
        lambda: f"面积{r.randint(60, 180)}.{r.randint(1, 9)}平方米",
        lambda: f"社保编号{digits(r, 10)}",
    ))()


def t_12345(r: random.Random) -> Writer:
    w = Writer().add("来电人：").add(person(r)).add("，联系电话：").add(mobile(r) if r.random() < 0.8 else landline(r))
    if r.random() < 0.4:
        w.add("，身份证号：").add(id_number(r, old=r.random() < 0.12))
    w.add("。来电反映：").add(admin_chain(r) if r.random() < 0.4 else "").add(local_place(r))
    w.add(r.choice(ISSUES)).add("，").add(distractor(r)).add("。")
    if r.random() < 0.35:
        w.add("车牌号为").add(plate(r)).add("的车辆长期占用消防通道。")
    w.add(r.choice(("请相关部门尽快处理。", "来电人要求回访。", "市民诉求：尽快解决并答复。")))
    return w


def t_message(r: random.Random) -> Writer:
    w = Writer().add(r.choice(("您好，我是", "领导好，我家住", "我住在"))).add(local_place(r))
    w.add(r.choice(("的居民，", "，", "。"))).add(r.choice(ISSUES)).add("。")
    if r.random() < 0.5:
        w.add("我们已经向").add(one("place", r.choice(STREETS), "street")).add("反映过，").add(distractor(r))
        w.add("至今没有结果。")
    if r.random() < 0.4:
        w.add("肇事车辆").add(plate(r)).add("，经常停在").add(road(r)).add("。")
    if r.random() < 0.6:
        w.add("我的电话是").add(mobile(r)).add("，")
    if r.random() < 0.2:
        w.add("身份证").add(id_number(r)).add("，")
    w.add("希望领导重视！")
    return w


def t_opinion(r: random.Random) -> Writer:
    w = Writer().add("据").add(admin_chain(r)).add(r.choice(("群众", "企业负责人", "退休职工"))).add(person(r))
    w.add("反映，").add(local_place(r)).add(r.choice(ISSUES)).add("。").add(distractor(r)).add("。")
    w.add("反映人称，").add(distractor(r)).add("，问题已持续较长时间。")
    if r.random() < 0.5:
        w.add("联系人：").add(person(r)).add("，电话").add(landline(r) if r.random() < 0.5 else mobile(r)).add("。")
    w.add("建议有关部门加强监管，切实回应群众关切。")
    return w


def t_proposal(r: random.Random) -> Writer:
    w = Writer().add("关于加强").add(local_place(r)).add("综合治理的提案。").add(admin_chain(r))
    w.add(r.choice(("近年来发展较快，但", "城镇化进程中，"))).add(r.choice(ISSUES)).add("等问题较为突出。")
    w.add("据统计，").add(distractor(r)).add("，").add(distractor(r)).add("。")
    w.add("建议：一是完善").add(road(r)).add("沿线配套设施；二是由").add(one("place", r.choice(TOWNS), "town"))
    w.add("牵头开展专项整治。")
    if r.random() < 0.3:
        w.add("提案人：").add(person(r)).add("，联系电话").add(mobile(r)).add("。")
    return w


GENRES: dict[str, Callable[[random.Random], Writer]] = {
    "12345工单": t_12345, "网络问政留言": t_message, "社情民意信息": t_opinion, "提案": t_proposal}


def build(n_per_genre: int = 80, seed: int = 17) -> list[dict[str, object]]:
    r = random.Random(seed)
    items = []
    for genre, template in GENRES.items():
        for _ in range(n_per_genre):
            items.append(template(r).item(len(items) + 1, genre))
    for item in items:  # the gold spans are the text they claim
        for g in item["gold"]:  # type: ignore[attr-defined]
            assert item["text"][g["start"]:g["end"]] == g["text"] and not re.search(r"^\s|\s$", g["text"])  # type: ignore[index]
    return items


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    OUT = args.out
    rows = build(seed=args.seed)
    OUT.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    print(f"{len(rows)} items, {sum(len(r['gold']) for r in rows)} gold spans → {OUT}")  # type: ignore[arg-type]
