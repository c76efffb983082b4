"""The facts inside an item: places, phone numbers, ID numbers, licence plates and persons, with offsets.

``extract_facts(text)`` → ``list[Fact]`` sorted by position, never overlapping; ``start``/``end`` are ``[start,
end)`` character offsets into ``text`` as given (no normalisation shifts them). Each kind:

- **place** (``level`` province | city | county | town | street | village | estate | road): provinces, prefecture
  cities and counties from the national division codes that ``python-stdnum`` ships (``cn/loc.dat``, current and
  former names; provinces and prefecture cities also by their short names, 浙江, 杭州), the site's own towns and
  streets (``localities``, from the directory) and, below county level where no gazetteer reaches, a recogniser
  on rjieba's words: a proper name of at least two characters before a suffix (镇/乡 → town, 街道 → street,
  村/社区 → village, 小区/花园/苑/家园/公寓/新村/山庄/大厦/华庭/名邸/华府/公馆/嘉园 → estate,
  路/街/大道/大街/巷/弄/胡同 → road), so that
  幸福村, 阳光花园小区, 建设东路 are places and 农村, 我们小区, 马路 are not.
- **phone** and **id_number**: see ``sqmy.core.pii`` (validated with ``phonenumbers`` and ``python-stdnum``).
- **plate**: mainland licence plates, including the 6-character new-energy ones (浙A·D12345, 粤B12345F).
- **person**: words rjieba tags as person names (``nr``) that start with a common surname, and surname + 先生/女士/
  师傅/阿姨… or 某/某某 (张先生, 李某某). The weakest kind: names without a surname from the list are missed.

``Fact.masked()`` hides the middle digits of a phone or ID number (``sqmy.core.pii.mask_value``).

Only the standard library is imported with this module; the gazetteer, rjieba, phonenumbers and pyahocorasick load
on the first extraction (0.1–0.4 s once per process, see docs/BENCHMARKS.md), so a command that extracts nothing
pays nothing.
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
    "广大 各个 每个 当地 本地 外地 附近的 开发商 物业 老家 家乡 沿线 街头")
_PROPER = frozenset({"ns", "nr", "nz", "nt", "nrt", "nrfg"})
_GENERIC_PREFIX = re.compile(r"^(?:[的了在是这那该本每某]|我们|你们|他们)")
_FUNCTION_TAGS = frozenset({"p", "c", "u", "uj", "ul", "uz", "ud", "ug", "uv", "r", "d", "m", "q", "x", "y", "e", "o",
                            "f", "v", "vn", "ad", "an"})
_PREPOSITIONS = "向由在从到往对把被给和与"
_ADMIN_TAIL = "省市区县"  # a name never starts with the end of the unit before it (播州区|横山镇)
_SHORT_NAME_STOP = _words("东方 长治 来宾 白银 普洱 哈密 中卫 安康 北海 江山 黄山 吉安 三沙 开平 永安 和平 长寿 太平 "
                             "中山 新乡 东营 龙岩 白山 本溪 通化 朝阳 阳泉")
_GENERIC_COUNTIES = _words("城区 郊区 矿区 新区 市辖区 县 省直辖县级行政区划 自治区直辖县级行政区划 市区")
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


Token = tuple[str, str, int, int]  # word, part-of-speech tag, start, end


def _tokens(text: str) -> list[Token]:
    import rjieba

    out, pos = [], 0
    for word, tag in rjieba.tag(text):
        out.append((word, tag, pos, pos + len(word)))
        pos += len(word)
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
    while j > 0 and i - j < 3 and _name_like(tokens[j - 1], short=name_len < 2):
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
        if 0 < name_len < 2 and tag not in _PROPER:
            continue  # 马路, 农村, 沿街: one word that only looks like a name and a suffix
        chain = i > 0 and tokens[i - 1][0] in _ESTATE_WORDS  # 阳光/花园/小区: the estate word joins
        j = _extend_left(tokens, i, name_len) if name_len < 2 or chain else i
        start = tokens[j][2]
        if end - len(suffix) - start > 2 and (text[start] in _ADMIN_TAIL or (
                text[start] in _PREPOSITIONS and len(tokens[j][0]) == 3)):  # 区|横山镇, 向翠屏 (read as a name)
            start += 1
        name = text[start:end - len(suffix)]
        if len(name) >= 2 and not _GENERIC_PREFIX.match(name) and name not in _NOT_NAMES:
            out.append(Fact("place", text[start:end], start, end, level))
    return out


# --- plates and persons ------------------------------------------------------------------------------------------

_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_L = "A-HJ-NP-Z"
_PLATE = re.compile(
    rf"(?<![A-Za-z0-9])[{_PROVINCES}][{_L}][·•．. ]?"
    rf"(?:[DF][{_L}0-9]\d{{4}}|\d{{5}}[DF]|(?=[{_L}0-9]{{0,4}}\d)[{_L}0-9]{{4}}[{_L}0-9挂学警港澳])"
    r"(?![A-Za-z0-9])")
_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔"
    "钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛"
    "邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝"
    "路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂"
    "全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝")
_HONORIFIC = re.compile(rf"[{''.join(sorted(_SURNAMES))}](?:某某|某|[\u4e00-\u9fff]{{0,2}}?)"
                        r"(?:先生|女士|小姐|师傅|阿姨|大爷|大妈|大姐|大哥|老师|同志|书记|主任|村长|经理|老板)|"
                        rf"[{''.join(sorted(_SURNAMES))}]某某?")


def _plates(plain: str, text: str) -> list[Fact]:
    return [Fact("plate", text[m.start():m.end()], m.start(), m.end())
            for m in _PLATE.finditer(plain.translate(_UPPER))]


_UPPER = {c: c - 32 for c in range(ord("a"), ord("z") + 1)}


_SURNAME_CLASS = "[" + "".join(sorted(_SURNAMES)) + "]"
_ROLE = re.compile(  # 联系人：王伟，… / 群众张建国反映…
    rf"(?:来电人|联系人|提案人|反映人|投诉人|举报人|当事人|申请人|姓名|户主)[:： ]?"
    rf"({_SURNAME_CLASS}[\u4e00-\u9fff]{{1,2}}?)(?=[，,。；;、（( ]|$)|"
    rf"(?:群众|市民|村民|居民|业主|职工|负责人)({_SURNAME_CLASS}[\u4e00-\u9fff]{{1,2}}?)(?=反映|来电|来信|称|说|表示)")


def _persons(text: str, tokens: Sequence[Token]) -> list[Fact]:
    """Surname + title or 某; a name after 来电人/联系人/提案人…; words tagged as person names (a lone surname
    followed by a given name tagged so too: 董/秀英)."""
    out = [Fact("person", m.group(), m.start(), m.end()) for m in _HONORIFIC.finditer(text)]
    for m in _ROLE.finditer(text):
        group = 1 if m.group(1) else 2
        out.append(Fact("person", m.group(group), m.start(group), m.end(group)))
    for n, (word, tag, start, end) in enumerate(tokens):
        if tag not in ("nr", "nrfg") or word[0] not in _SURNAMES or _suffix(word) is not None:
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
        found += _gazetteer_places(text, tuple(sorted(set(localities))))
        found += _suffix_places(text, tokens)
    resolved = _resolve(found)
    if "person" not in wanted:
        return resolved
    people = [p for p in _resolve(_persons(text, tokens))
              if all(p.end <= f.start or p.start >= f.end for f in resolved)]  # a place or number wins
    return sorted([*resolved, *people], key=lambda f: f.start)


def places(facts: Iterable[Fact], *levels: str) -> list[str]:
    """The place names among ``facts`` (of the given levels, all when none), in order, without repeats."""
    return list(dict.fromkeys(f.text for f in facts if f.kind == "place" and (not levels or f.level in levels)))
