"""The facts inside an item: places, phone numbers, ID numbers, licence plates and persons, with offsets.

``extract_facts(text)`` → ``list[Fact]`` sorted by position, never overlapping; ``start``/``end`` are ``[start,
end)`` character offsets into ``text`` as given (no normalisation shifts them). Each kind:

- **place** (``level`` province | city | county | town | street | village | estate | road | other): provinces,
  prefecture cities and counties from the national division codes that ``python-stdnum`` ships (``cn/loc.dat``,
  current and former names; provinces and prefecture cities also by their short names, 浙江, 杭州, autonomous
  prefectures as 黔东南州; two-character counties such as 滑县 where the segmenter reads them as a place); China's
  31,000 towns, townships and subdistricts from ``jionlp``'s location table (where a word starts: 部分乡镇 holds
  no 分乡镇); the site's own towns and streets (``localities``, from the directory) and, below county level where
  no gazetteer reaches, a recogniser on rjieba's words: a proper name of at least two characters before a suffix
  (镇/乡 → town, 街道 → street, 村/社区 → village, 小区/花园/苑/家园/公寓/新村/山庄/大厦/华庭/名邸/华府/公馆/嘉园 →
  estate, 路/街/大道/大街/巷/弄/胡同 → road), so that 幸福村, 阳光花园小区, 建设东路 are places and 农村, 我们
  小区, 马路, 行政村 are not; such a place right after a full administrative name starts after it (天河区|冼村).
  Also a village whose name the segmenter splits (展/留村), a road before 路口 (体育路口), an estate known by the
  building after it (翠湖天地3栋 → 翠湖天地), and level ``other`` for named places that are no administrative
  unit: development zones and industrial parks, plazas, markets, stations, parks, scenic areas, rivers and
  mountains (昆山开发区, 来福士广场, 龙华站, 沱江). Building, unit and group numbers are not part of the span
  (阳光花园小区 in 阳光花园小区5幢, 幸福村 in 幸福村3组), so one estate or village reads the same in every item.
- **phone** and **id_number**: see ``sqmy.core.pii`` (validated with ``phonenumbers`` and ``python-stdnum``).
- **plate**: mainland licence plates as written, including new-energy ones (浙A·D12345, 粤B12345F) and trailer,
  coach and police plates (鲁B1234挂).
- **person**: words rjieba tags as person names (``nr``) that start with a common surname and are no common word
  (黄牛, 卫星, 李家); surname + 先生/女士/师傅/阿姨/医生/同学/局长… or 某/某某 (张先生, 李某某; the surname nearest
  the title: 游客黄女士 → 黄女士); 老张/小王; a name after 来电人/联系人/提案人/村民… (also names without a Han
  surname: 提案人：泽仁拉姆). The weakest kind: names in a bare list without a surname from the list are missed.

``Fact.masked()`` hides the middle digits of a phone or ID number (``sqmy.core.pii.mask_value``).

Only the standard library is imported with this module; the gazetteers, rjieba, phonenumbers and pyahocorasick
load on the first extraction (0.3–0.8 s once per process on a loaded 2-core machine, see docs/BENCHMARKS.md), so
a command that extracts nothing pays nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Literal

from sqmy.core.pii import find_contacts, halfwidth, mask_value

FactKind = Literal["place", "phone", "id_number", "plate", "person"]
FACT_KINDS: tuple[str, ...] = ("place", "phone", "id_number", "plate", "person")
PLACE_LEVELS: tuple[str, ...] = ("province", "city", "county", "town", "street", "village", "estate", "road", "other")


@dataclass(frozen=True)
class Fact:
    """One fact: its kind, the text as written (phone/ID masked when asked), ``[start, end)`` in the text, and
    for places the administrative level."""

    kind: FactKind
    text: str
    start: int
    end: int
    level: str | None = None

    def masked(self) -> Fact:
        """This fact with a phone or ID number's middle digits hidden (other kinds unchanged)."""
        if self.kind in ("phone", "id_number"):
            return replace(self, text=mask_value(self.kind, self.text))
        return self

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "text": self.text, "start": self.start, "end": self.end}
        if self.level is not None:
            out["level"] = self.level
        return out


def _words(spaced: str) -> frozenset[str]:
    return frozenset(spaced.split())


# --- places -------------------------------------------------------------------------------------------------------

_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("街道", "street"), ("社区", "village"), ("小区", "estate"), ("花园", "estate"), ("家园", "estate"),
    ("公寓", "estate"), ("新村", "estate"), ("山庄", "estate"), ("大厦", "estate"), ("华庭", "estate"),
    ("名邸", "estate"), ("华府", "estate"), ("公馆", "estate"), ("嘉园", "estate"), ("大道", "road"),
    ("大街", "road"), ("胡同", "road"), ("镇", "town"), ("乡", "town"), ("村", "village"), ("苑", "estate"),
    ("路", "road"), ("街", "road"), ("巷", "road"), ("弄", "road"))
_ESTATE_WORDS = frozenset(s for s, level in _SUFFIXES if level == "estate" and len(s) > 1)
# Words that are no name, before a suffix: pronouns, determiners, particles, common verbs and adjectives.
_NOT_NAMES = _words(
    "我 我们 你 你们 他 他们 她 它 咱们 这 那 这个 那个 这里 那里 这条 那条 该 本 各 每 某 全 整个 所在 附近 周边 "
    "旁边 门口 对面 的 了 在 是 和 与 及 或 到 从 去 往 向 由 把 被 给 让 住 回 进 出 走 修 过 上 下 大 小 老 新 "
    "农 城 山 渔 一 几 多 好 老旧 高档 智慧 和谐 美丽 文明 农村 城市 城乡 城中 安置 拆迁 回迁 商品房 保障房 "
    "很多 许多 部分 一些 其他 其它 所有 有的 没有 一个 一条 一座 全市 全县 全镇 全村 我市 我县 我镇 我村 "
    "乡镇 村镇 城镇 集镇 市区 县城 居民 业主 村民 群众 市民 周围 路口 路段 路面 道路 马路 公路 街道 社区 小区 "
    "广大 各个 每个 当地 本地 外地 附近的 开发商 物业 老家 家乡 沿线 街头 怎么 这么 那么 要 线路 电路 思路 出路 "
    "套路 门路 销路 网路 退路 水路 铁路 弯路 一路 半路 十字 公交线路 满大街")
_PROPER = frozenset({"ns", "nr", "nz", "nt", "nrt", "nrfg"})
_GENERIC_PREFIX = re.compile(r"^(?:[的了在是这那该本每某]|我们|你们|他们)")
_FUNCTION_TAGS = frozenset({"p", "c", "u", "uj", "ul", "uz", "ud", "ug", "uv", "r", "d", "m", "q", "x", "y", "e", "o",
                            "f", "v", "vn", "ad", "an"})
_PREPOSITIONS = "向由在从到往对把被给和与现原住"
# Verbs that often stand right before a place and are never part of its name.
_LEAD_VERBS = _words("要求 咨询 反映 举报 投诉 位于 来到 前往 路过 经过 途经 居住 住在 请求 希望 建议 联系 "
                     "通知 协调 督促 责令 代表 表扬 入职 租住 暂住 现住 家住 搬到 回到 去往 前来")
_VERBISH = frozenset({"v", "vn", "vd", "p", "c", "d", "r", "t"})
_ADMIN_TAIL = "省市区县乡镇"  # a name never starts with the end of the unit before it (播州区|横山镇)
_SHORT_NAME_STOP = _words("东方 长治 来宾 白银 普洱 哈密 中卫 安康 北海 江山 黄山 吉安 三沙 开平 永安 和平 长寿 太平 "
                             "中山 新乡 东营 龙岩 白山 本溪 通化 朝阳 阳泉")
_GENERIC_COUNTIES = _words("城区 郊区 矿区 新区 市辖区 县 省直辖县级行政区划 自治区直辖县级行政区划 市区")
# Town names of the national table that are also common words (新型城镇化, 重点中心镇).
_COMMON_TOWNS = _words("小城镇 大城镇 新城镇 古城镇 老城镇 新乡镇 中心镇 新城乡 分乡镇 向城镇")
_AFTER_TOWN_WORD = frozenset("村镇下亲土愁音里情间化")  # 建设乡村, 部分乡镇, 城镇化: the tail starts another word
_AUTONOMOUS = re.compile(r"^(.{2,4}?)(?:(?:苗|侗|布依|土家|藏|彝|羌|傣|景颇|白|哈尼|壮|回|蒙古|哈萨克|"
                         r"柯尔克孜|朝鲜|傈僳)族)+自治州$")
_PROVINCE_TAIL = re.compile(r"(?:省|市|壮族自治区|回族自治区|维吾尔自治区|自治区|特别行政区|特別行政區)$")


@lru_cache(maxsize=1)
def _gazetteer() -> dict[str, str]:
    """Name → level for China's provinces, prefecture cities and counties (current and former names)."""
    from sqmy.core.divisions import divisions

    names: dict[str, str] = {}
    for code, division_names in divisions():
        level = "province" if code.endswith("0000") else "city" if code.endswith("00") else "county"
        for name in division_names:
            if level == "province" and name.endswith(("省", "市", "区", "區")):
                names[name] = "province"
                short = _PROVINCE_TAIL.sub("", name)
                if len(short) >= 2:
                    names.setdefault(short, "province")
            if level == "province" or name in _GENERIC_COUNTIES or "直辖" in name or len(name) < 3:
                continue
            names.setdefault(name, level)
            prefecture = _AUTONOMOUS.match(name) if level == "city" else None
            if prefecture:  # 黔东南苗族侗族自治州 → 黔东南州, 黔东南
                names.setdefault(prefecture.group(1) + "州", "city")
                names.setdefault(prefecture.group(1), "city")
            short = name[:-1] if level == "city" and name.endswith("市") else ""
            if len(short) >= 2 and short not in _SHORT_NAME_STOP and code[:2] not in ("11", "12", "31", "50"):
                names.setdefault(short, "city")
    return names


def _locality_level(name: str) -> str:
    """The level of a directory name by its suffix (青石镇 → town, 城东街道 → street, 青溪市 → city)."""
    tails = (("街道", "street"), ("镇", "town"), ("乡", "town"), ("省", "province"), ("市", "city"), ("县", "county"),
             ("区", "county"), ("村", "village"), ("社区", "village"))
    return next((level for tail, level in tails if name.endswith(tail)), "other")


@lru_cache(maxsize=8)
def _automaton(localities: tuple[str, ...]) -> Any:
    import ahocorasick  # pyahocorasick: every gazetteer name in one pass over the text

    automaton = ahocorasick.Automaton()
    for name, level in (_gazetteer() | {n: _locality_level(n) for n in localities}).items():
        automaton.add_word(name, (len(name), level))
    automaton.make_automaton()
    return automaton


def _gazetteer_places(text: str, localities: tuple[str, ...]) -> list[Fact]:
    return [Fact("place", text[end + 1 - size:end + 1], end + 1 - size, end + 1, level)
            for end, (size, level) in _automaton(localities).iter(text)]


@lru_cache(maxsize=1)
def _town_names() -> frozenset[str]:
    from sqmy.core.divisions import towns

    return towns() - _COMMON_TOWNS


_TOWN_TAIL = re.compile("镇|乡|街道|苏木")


def _town_places(text: str, tokens: Sequence[Token]) -> list[Fact]:
    """Towns, townships and subdistricts of the national table (the longest name that ends at 镇/乡/街道/苏木),
    only where a word starts: 部分乡镇 holds no 分乡镇."""
    starts = {t[2] for t in tokens}
    out: list[Fact] = []
    for m in _TOWN_TAIL.finditer(text):
        names = _town_names()  # the national table is read when a text first has a 镇/乡/街道/苏木
        begin = next((b for b in range(max(0, m.end() - 12), m.end() - 2)
                      if b in starts and text[b:m.end()] in names), None)
        if begin is not None and text[m.end():m.end() + 1] not in _AFTER_TOWN_WORD:
            level = "street" if m.group() == "街道" else "town"
            out.append(Fact("place", text[begin:m.end()], begin, m.end(), level))
    return out


Token = tuple[str, str, int, int]  # word, part-of-speech tag, start, end


def _tokens(text: str) -> list[Token]:
    import rjieba

    out, pos = [], 0
    for word, tag in rjieba.tag(text):
        end = pos + len(word)
        out.append((word, tag, pos, end))
        pos = end
    return out


_SUFFIX_LEVEL = dict(_SUFFIXES)


def _suffix(word: str) -> tuple[str, str] | None:
    """The place suffix ``word`` ends with (the longer one first) and its level."""
    for tail in (word[-2:], word[-1:]):
        if tail in _SUFFIX_LEVEL:
            return tail, _SUFFIX_LEVEL[tail]
    return None


def _name_like(token: Token, short: bool = False) -> bool:
    """A word that can be (part of) a place's name; single characters only as proper nouns, or (``short``: the
    name is still shorter than two characters) when they are no function word (枫树/湾/村)."""
    word, tag = token[0], token[1]
    if word in _NOT_NAMES or not all("\u4e00" <= c <= "\u9fff" for c in word):
        return False
    return len(word) > 1 or tag in _PROPER or (short and tag not in _FUNCTION_TAGS and word not in _ADMIN_TAIL)


def _extend_left(tokens: Sequence[Token], i: int, name_len: int) -> int:
    """Index of the first token of the place that ends at token ``i``: earlier words join while the name is
    shorter than two characters, and through estate words (阳光/花园/小区)."""
    j = i
    while j > 0 and i - j < 3 and _name_like(tokens[j - 1], short=name_len < 2) and (
            tokens[j - 1][0] not in _LEAD_VERBS):  # 要求/街道, 咨询/西园新村 (but 胜利/街, 解放/大道)
        previous = tokens[j - 1][0]
        if name_len >= 2 and previous not in _ESTATE_WORDS and tokens[j][0] not in _ESTATE_WORDS:
            break
        j -= 1
        name_len += len(previous)
    return j


def _suffix_places(text: str, tokens: Sequence[Token]) -> list[Fact]:
    """Places below county level: a name of two characters or more before a place suffix."""
    out = []
    for i, (word, tag, _start, end) in enumerate(tokens):
        found = _suffix(word)
        if found is None:
            continue
        suffix, level = found
        name_len = len(word) - len(suffix)
        if name_len and word in _NOT_NAMES:
            continue
        if tag == "ns" and name_len == 1 and len(word) >= 3:
            out.append(Fact("place", word, _start, end, level))  # 西大街: the segmenter knows it as a place
            continue
        single_proper = i > 0 and len(tokens[i - 1][0]) == 1 and tokens[i - 1][1] in ("nr", "ns")  # 金/山路
        if 0 < name_len < 2 and tag not in _PROPER and not single_proper:
            continue  # 马路, 农村, 沿街: one word that only looks like a name and a suffix
        chain = i > 0 and tokens[i - 1][0] in _ESTATE_WORDS  # 阳光/花园/小区: the estate word joins
        j = _extend_left(tokens, i, name_len) if name_len < 2 or chain else i
        start = tokens[j][2]
        if end - len(suffix) - start > 2 and (text[start] in _ADMIN_TAIL or (
                text[start] in _PREPOSITIONS and len(tokens[j][0]) >= 3)):  # 区|横山镇, 向翠屏, 现东孚 (one word)
            start += 1
        name = text[start:end - len(suffix)]
        if len(name) >= 2 and not _GENERIC_PREFIX.match(name) and name not in _NOT_NAMES:
            out.append(Fact("place", text[start:end], start, end, level))
    return out


_ROAD_HEADS = _words("路口 街口")
_NOT_ROAD_NAMES = _words("重点 城区 市区 主要 各个 专用道 十字 交通 主干 三岔 丁字 这个 那个 每个")


def _road_heads(text: str, tokens: Sequence[Token]) -> list[Fact]:
    """A road whose 路 the segmenter joined to what follows (体育/路口): the noun right before it is the name."""
    out = []
    for i, (word, _tag, start, _end) in enumerate(tokens):
        if word not in _ROAD_HEADS or i == 0:
            continue
        name, tag, begin, _ = tokens[i - 1]
        nounish = tag in ("n", "vn", "nr", "ns", "nz") and _name_like(tokens[i - 1])
        if len(name) >= 2 and _suffix(name) is None and nounish and name not in _NOT_ROAD_NAMES:
            out.append(Fact("place", text[begin:start + 1], begin, start + 1, "road"))
    return out


_NO_VILLAGE = _words("行政 自然 个别 部分 多数 少数 一些 通过 加快 支持 纳入 开展 收购 一带 城中 有的 所有 高山 重点 "
                     "试点 贫困 偏远 边远 建设 人为 示范")


def _real_village(fact: Fact) -> bool:
    """Not a generic or verb phrase before 村/社区 (行政村, 支持村, 纳入社区, 占农村)."""
    if fact.level != "village":
        return True
    name = fact.text[:-2] if fact.text.endswith("社区") else fact.text[:-1]
    return name not in _NO_VILLAGE and not name.endswith("农") and "某" not in name and name[-2:] not in _NO_VILLAGE


_ADMIN_FULL = ("省", "市", "区", "县", "州", "盟", "旗", "镇", "乡", "街道", "苏木")


def _short_counties(tokens: Sequence[Token]) -> list[Fact]:
    """Two-character counties (茂县, 滑县) where the segmenter reads the word as a place name (形成县域 is no 成县)."""
    names = _two_char_counties()
    return [Fact("place", w, a, b, "county") for w, tag, a, b in tokens if tag == "ns" and w in names]


@lru_cache(maxsize=1)
def _two_char_counties() -> frozenset[str]:
    from sqmy.core.divisions import divisions

    return frozenset(n for code, names in divisions() if not code.endswith("00") for n in names
                     if len(n) == 2 and n.endswith("县"))


# Named places that are no administrative unit (level "other"): a name of two characters or more before one of
# these, or a place name the segmenter tags ``ns`` that ends like a river, lake or mountain.
_OTHER_SUFFIXES = ("经济技术开发区", "高新技术产业开发区", "工业园区", "开发区", "高新区", "工业园", "产业园", "科技园",
                   "物流园", "经济区", "保税区", "商圈", "广场", "农贸市场", "批发市场", "二手车市场", "机场",
                   "服务区", "景区", "古城", "古镇", "公园", "火车站", "汽车站", "高铁站", "北站", "南站", "东站",
                   "西站")
_OTHER_LAST = frozenset(t[-1] for t in _OTHER_SUFFIXES)
_NOT_NATURE = _words("一江 滨江 沿江 沿海 沿河 江山 下山 上山 深山 大山 火山 靠山 江湖 内海 近海")
_NATURE_CONTEXT = _words("沿岸 流域 边 畔 风光带 两岸 沿线 河畔 湖畔 江畔 水域 岸边 景区 上游 下游 水质 治理 保护 "
                         "沿岸夜间 生态 湿地 大桥 水面")
_NATURE_TAILS = ("江", "河", "湖", "海", "山", "沟", "岛")
_NOT_OTHER_NAMES = _words("农贸 菜 集贸 批发 超 人才 劳务 房地产 二手 资本 金融 消费 国内 国际 海外 农村 城市 停车 "
                          "文化 休闲 主题 城市 中心 社区 街心 口袋 新兴 黄金周 国庆黄金周 城区 市区 人均 期间 人称 "
                          "今年 主要 "
                          "途经 新建 现有 所有 各类 重点 导游 邻市 公园 正对着 无线耳机")
_NOUNISH = frozenset({"n", "nr", "ns", "nz", "nt", "ng", "nrt", "nrfg", "j", "l", "eng"})


def _other_places(text: str, tokens: Sequence[Token]) -> list[Fact]:
    """Development zones, industrial parks, markets, stations, plazas, scenic areas, rivers and mountains."""
    out = []
    count = len(tokens)
    for i, (word, tag, start, end) in enumerate(tokens):
        if tag == "ns" and word.endswith(_NATURE_TAILS) and word not in _NOT_NATURE:  # the rest only for these
            glued = i + 1 < count and len(tokens[i + 1][0]) == 1 and tokens[i + 1][1] not in _NO_NAME_TAGS
            context = len(word) >= 3 or (i + 1 < count and tokens[i + 1][0] in _NATURE_CONTEXT)  # 沱江/沿岸
            if not glued and context:
                lone = i > 0 and len(tokens[i - 1][0]) == 1 and tokens[i - 1][1] in ("n", "nr", "ns", "nz")  # 虎/渡河
                begin = tokens[i - 1][2] if lone and _name_like(tokens[i - 1], short=True) else start
                out.append(Fact("place", text[begin:end], begin, end, "other"))
                continue
        if word == "站" and i > 0 and tokens[i - 1][1] in ("ns", "nz", "nr") and len(tokens[i - 1][0]) >= 2 and (
                _suffix(tokens[i - 1][0]) is None and "某" not in tokens[i - 1][0]):  # 龙华站 (文化路站: a bus stop)
            out.append(Fact("place", text[tokens[i - 1][2]:end], tokens[i - 1][2], end, "other"))  # 龙华站
            continue
        suffix = next((t for t in _OTHER_SUFFIXES if word.endswith(t)), None) if word[-1] in _OTHER_LAST else None
        if suffix is None:
            continue
        j = i
        while j > 0 and i - j < 3 and _name_like(tokens[j - 1]) and tokens[j - 1][1] in _NOUNISH and (
                tokens[j - 1][0] not in _NOT_OTHER_NAMES):
            j -= 1
        begin = tokens[j][2]
        name = text[begin:end - len(suffix)]
        if len(name) >= 2 and name not in _NOT_OTHER_NAMES and not _GENERIC_PREFIX.match(name):
            out.append(Fact("place", text[begin:end], begin, end, "other"))
    return out


_VILLAGE_STOP = _words("部分 个别 行政 自然 多数 少数 一些 有的 重点 试点 示范 贫困 偏远 边远 山区 高山 沿海 周边 附近 "
                       "全 各 该 本 邻 外 每 整 农 乡 城中 城郊 空心 美丽 文明 和美 宜居 新农")
_NOT_GLUED = frozenset("进入到回下出驻在各全每该本两三四五六七八九十几是古乡农由外时扫邻原其此另"
                       "我你他她这那哪某向住单往至从")
_VILLAGE_WORDS = frozenset("民委干里集卫医广支会主务级规貌容情")  # 村民, 村委, 村干部…: 村 starts a word
_NO_NAME_TAGS = frozenset({"p", "c", "u", "uj", "ul", "uz", "ud", "ug", "uv", "r", "d", "m", "q", "x", "y", "e", "o",
                           "f"})


def _village_fallback(text: str, tokens: Sequence[Token]) -> list[Fact]:
    """村 after a name the segmenter split oddly (展/留村, 我们/后/沟村, 王家庄/村村): the two characters before 村
    and the rest of the word the first of them starts, unless they are a function or generic word."""
    starts = {start: n for n, (_w, _t, start, _e) in enumerate(tokens)}
    at = [0] * len(text)
    for n, (_w, _t, start, end) in enumerate(tokens):
        at[start:end] = [n] * (end - start)
    out = []
    for m in re.finditer("村", text):
        pos = m.start()
        hanzi = all("\u4e00" <= c <= "\u9fff" for c in text[pos - 2:pos])
        if pos < 2 or not hanzi or text[pos - 1] == "村" or text[pos + 1:pos + 2] in _VILLAGE_WORDS:
            continue
        before, first = tokens[at[pos - 1]], tokens[at[pos - 2]]
        if before[3] == pos and before[1] not in ("nr", "ns", "nz"):
            continue  # 支持/村, 传统/村, 部分/村: only a proper name right before a lone 村 (红光/村村)
        if before[3] > pos and text[pos - 1] in _NOT_GLUED:
            continue  # 进村, 两村, 古村: the character the segmenter joined to 村 is no name
        if ((first[1] in _NO_NAME_TAGS and not (first[1] == "f" and len(first[0]) == 1))  # 后/沟村
                or first[0] in _VILLAGE_STOP or first[0] in _NOT_NAMES):
            continue
        begin = first[2] if first[2] in starts and pos - first[2] <= 4 else pos - 2
        begin += pos - begin > 2 and text[begin] in _ADMIN_TAIL  # 黄泥乡|下洋村
        out.append(Fact("place", text[begin:pos + 1], begin, pos + 1, "village"))
    return out


_UNIT = "(?:[A-Za-z]?\\d+|[一二三四五六七八九十]+)"
_BUILDING = re.compile(f"{_UNIT}(?:号楼|栋|幢)")


def _estate_names(text: str, tokens: Sequence[Token]) -> list[Fact]:
    """An estate known only by the building after it (翠湖天地3栋, 龙湖春江郦城7栋): up to three name-like words
    right before the building number."""
    ends = {end: n for n, (_w, _t, _s, end) in enumerate(tokens)}
    out = []
    for m in _BUILDING.finditer(text):
        i = ends.get(m.start())
        if i is None:
            continue
        j, size = i + 1, 0
        while j > 0 and i + 1 - j < 3 and _name_like(tokens[j - 1]) and tokens[j - 1][1] not in _VERBISH and (
                size < 4 or tokens[j - 1][1] in _PROPER):  # 朋友家/翠湖天地: a common noun ends a long name
            j -= 1
            size += len(tokens[j][0])
        begin = tokens[j][2] if j <= i else m.start()
        proper = any(tokens[k][1] in _PROPER for k in range(j, i + 1))
        suffixed = _suffix(text[begin:m.start()])
        if m.start() - begin >= 2 and proper and (suffixed is None or suffixed[1] == "estate"):
            out.append(Fact("place", text[begin:m.start()], begin, m.start(), "estate"))
    return out


def _after_admin(candidates: Iterable[Fact], gazetteer: Sequence[Fact]) -> list[Fact]:
    """Suffix places that start inside a full administrative name (天河区|冼村, 同乐苗族乡|高岜村, 西湖区|翠苑街道)
    begin after it."""
    full = [g for g in gazetteer if g.text.endswith(_ADMIN_FULL) and len(g.text) >= 3]  # 广州|机场 stays whole
    out = []
    for fact in candidates:
        for g in full:
            if g.start <= fact.start < g.end < fact.end:
                fact = replace(fact, text=fact.text[g.end - fact.start:], start=g.end)
        if fact.end - fact.start >= 2:
            out.append(fact)
    return out


# --- plates and persons ------------------------------------------------------------------------------------------

_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_L = "A-HJ-NP-Z"
_PLATE = re.compile(
    rf"(?<![A-Za-z0-9])[{_PROVINCES}][{_L}][·•．. ]?"
    rf"(?:(?=[{_L}0-9]{{0,4}}\d)[{_L}0-9]{{5}}[挂学警]"  # a trailer/coach/police plate written one character long
    rf"|[DF](?=[{_L}0-9]{{0,4}}\d)[{_L}0-9]{{5}}|\d{{5}}[DF]"  # new energy: 粤B·D03K72, 粤B12345F
    rf"|(?=[{_L}0-9]{{0,4}}\d)[{_L}0-9]{{4}}[{_L}0-9挂学警港澳])"
    r"(?![A-Za-z0-9])")
_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔"
    "钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛"
    "邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝"
    "路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂"
    "全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝阎海洪郁蔺钮谈乌禹尉匡冼")
_HONORIFIC = re.compile(rf"[{''.join(sorted(_SURNAMES))}](?:某某|某|[\u4e00-\u9fff]{{0,2}}?)"
                        r"(?:先生|女士|小姐|师傅|阿姨|大爷|大妈|大姐|大哥|老师|同志|书记|主任|村长|老板)|"
                        rf"[{''.join(sorted(_SURNAMES))}]某某?")
# Surname right before a profession or kinship word (何医生, 方律师); not a surname that is mostly a function word
# (和医生, 时校长, 全科医生) nor 何 in 任何/如何.
_FUNCTION_SURNAMES = frozenset("和时万全查商钱段项尤于同车方常成关连应单江解高任")
_PROFESSION = re.compile(
    rf"(?<![任如为几若奈])[{''.join(sorted(_SURNAMES - _FUNCTION_SURNAMES))}]"
    r"(?:医生|同学|局长|校长|院长|科长|所长|站长|队长|警官|律师|会计|支书|部长|经理|阿婆|老伯|奶奶|爷爷|叔叔|大叔)")


def _plates(plain: str, text: str) -> list[Fact]:
    return [Fact("plate", text[m.start():m.end()], m.start(), m.end())
            for m in _PLATE.finditer(plain.translate(_UPPER))]


_UPPER = {c: c - 32 for c in range(ord("a"), ord("z") + 1)}


_SURNAME_CLASS = "[" + "".join(sorted(_SURNAMES)) + "]"
_NAME_END = r"(?=[，,。；;、（( ]|$|反映|来电|表示|介绍|称|说|代表|实名|第)"
_ROLE = re.compile(  # 联系人：王伟，… / 群众张建国反映… / 提案人：泽仁拉姆。
    r"(?:来电人|联系人|提案人|反映人|投诉人|举报人|当事人|申请人|姓名|户主)[:： ]?"
    rf"({_SURNAME_CLASS}[\u4e00-\u9fff]{{1,2}}?|[阿巴次泽古热买艾吐努帕卓格扎达乌斯索旦][\u4e00-\u9fff]{{2,5}}?)"
    rf"{_NAME_END}|"
    r"(?:群众|市民|村民|居民|业主|职工|负责人|牧民|游客|乘客|家长|读者)"  # weaker: a verb or a bracket must follow
    rf"({_SURNAME_CLASS}[\u4e00-\u9fff]{{1,2}}?|[阿巴次泽古热买艾吐努帕卓格扎达乌斯索旦][\u4e00-\u9fff]{{2,5}}?)"
    r"(?=反映|来电|来信|称|说|表示|[（(])")


_NICKNAME = re.compile(rf"[老小]({_SURNAME_CLASS})(?![\u4e00-\u9fff]?(?:某|先生|女士))")
# 小时, 小车, 小商品, 老党员, 老师傅…: 老/小 and a surname character that make a common word
_NOT_NICKNAMES = _words("老金 小农 老农 小房 老项 老卫 小石 老全 老商 小田 老高 "
                        "小时 小于 小车 小康 小商 小路 小程 小金 小包 小项 小米 小毛 小麦 小方 小单 小区 小吉 小宁 "
                        "小全 小和 小成 小关 小应 小连 小江 小池 小沙 小冷 小席 小景 老党 老师 老成 老房 老毛 老关 "
                        "老连 老路 老常 老方 老干 老安 老乡 老宁 老车 老于 老城 老江 老和 老区")
_NOT_PERSON_WORDS = _words("高峰 黄牛 黄金 黄金周 卫星 关了门 单元楼 林权证 金山 岳麓山 王家庄 常委 文明 明白 洪水 "
                           "房屋 "
                           "梅林 安平 许可证 金茂 金桥 古渡")


def _titled(text: str) -> list[Fact]:
    """Surname + title or 某, starting at the surname nearest the title (游客黄女士 → 黄女士, 老师张老师 → 张老师)."""
    out = []
    for m in _HONORIFIC.finditer(text):
        start = m.start()
        for k in range(m.start() + 1, m.end() - 2):
            if text[k] in _SURNAMES and k - m.start() <= 2:
                start = k
        out.append(Fact("person", text[start:m.end()], start, m.end()))
    return out + [Fact("person", m.group(), m.start(), m.end()) for m in _PROFESSION.finditer(text)]


def _persons(text: str, tokens: Sequence[Token]) -> list[Fact]:
    """Surname + title or 某; 老张/小王; a name after 来电人/联系人/提案人…; words tagged as person names (a lone
    surname followed by a given name tagged so too: 董/秀英) that are no common word (黄牛, 卫星, 李家)."""
    out = _titled(text)
    out += [Fact("person", m.group(), m.start(), m.end()) for m in _NICKNAME.finditer(text)
            if m.group() not in _NOT_NICKNAMES]
    for m in _ROLE.finditer(text):
        group = 1 if m.group(1) else 2
        if any(c in "乡村镇县市区省里局所" for c in m.group(group)[1:]):
            continue  # 来电人向乡里反映: a place, no name
        out.append(Fact("person", m.group(group), m.start(group), m.end(group)))
    for n, (word, tag, start, end) in enumerate(tokens):
        if (tag not in ("nr", "nrfg") or word[0] not in _SURNAMES or _suffix(word) is not None
                or word in _NOT_PERSON_WORDS or word.endswith(("家", "楼", "门", "证"))):
            continue
        if 2 <= len(word) <= 4:
            out.append(Fact("person", word, start, end))
        elif n + 1 < len(tokens) and tokens[n + 1][1] in ("nr", "nrfg") and len(tokens[n + 1][0]) <= 2:
            out.append(Fact("person", word + tokens[n + 1][0], start, tokens[n + 1][3]))
    return out


# --- all together -------------------------------------------------------------------------------------------------

def _resolve(candidates: Iterable[Fact]) -> list[Fact]:
    """Longest first (earlier first among equals; the order given among the same span), none overlapping."""
    chosen: list[Fact] = []
    for fact in sorted(candidates, key=lambda f: (f.start - f.end, f.start)):
        if all(fact.end <= c.start or fact.start >= c.end for c in chosen):
            chosen.append(fact)
    return sorted(chosen, key=lambda f: f.start)


def extract_facts(text: str, *, localities: Iterable[str] = (), mask: bool = False,
                  kinds: Iterable[str] = FACT_KINDS) -> list[Fact]:
    """Places, phone and ID numbers, plates and persons in ``text`` (see the module's description), sorted by
    position, not overlapping. ``localities``: the site's towns and streets (directory names, matched exactly);
    ``mask``: phone and ID numbers with their middle digits hidden; ``kinds``: which kinds to look for."""
    wanted = set(kinds)
    if not text or not wanted:
        return []
    plain = halfwidth(text)
    contacts = [Fact("phone" if k == "phone" else "id_number", text[s:e], s, e) for k, s, e in find_contacts(text)
                if k in wanted] if {"phone", "id_number"} & wanted else []
    found: list[Fact] = [f.masked() if mask else f for f in contacts]
    if "plate" in wanted:
        found += _plates(plain, text)
    tokens = _tokens(text) if {"place", "person"} & wanted else []
    if "place" in wanted:
        gazetteer = _gazetteer_places(text, tuple(sorted(set(localities))))
        gazetteer += _town_places(text, tokens) + _short_counties(tokens)
        suffixed = _suffix_places(text, tokens) + _village_fallback(text, tokens) + _road_heads(text, tokens)
        found += gazetteer + _estate_names(text, tokens)
        found += [f for f in _after_admin(suffixed + _other_places(text, tokens), gazetteer) if _real_village(f)]
    resolved = _resolve(found)
    if "person" not in wanted:
        return resolved
    people = [p for p in _resolve(_persons(text, tokens))
              if all(p.end <= f.start or p.start >= f.end for f in resolved)]  # a place or number wins
    return sorted([*resolved, *people], key=lambda f: f.start)


def places(facts: Iterable[Fact], *levels: str) -> list[str]:
    """The place names among ``facts`` (of the given levels, all when none), in order, without repeats."""
    return list(dict.fromkeys(f.text for f in facts if f.kind == "place" and (not levels or f.level in levels)))
