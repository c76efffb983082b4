"""Pydantic's validation errors in 简体中文, each naming its field (``items.1.text``).

Every error type pydantic-core can raise has a message here (``MESSAGES``; the tests check the set is
complete), so no English text from pydantic reaches a client. Messages may use the error's ``ctx`` values
(``{max_length}``, ``{expected}``…).
"""

from __future__ import annotations

import re
import string
from typing import Any

_GT = {"gt": "必须大于 {gt}", "ge": "不能小于 {ge}", "lt": "必须小于 {lt}", "le": "不能大于 {le}"}

MESSAGES: dict[str, str] = {
    # shapes and presence
    "missing": "缺少必填字段",
    "extra_forbidden": "不是可识别的字段",
    "json_invalid": "不是合法的 JSON",
    "json_type": "必须是 JSON 字符串",
    "model_type": "必须是 JSON 对象",
    "model_attributes_type": "必须是 JSON 对象",
    "dict_type": "必须是 JSON 对象",
    "mapping_type": "必须是 JSON 对象",
    "frozen_dict_type": "必须是 JSON 对象",
    "ordered_dict_type": "必须是 JSON 对象",
    "counter_type": "必须是 JSON 对象",
    "dataclass_type": "必须是 JSON 对象",
    "dataclass_exact_type": "必须是 JSON 对象",
    "invalid_key": "含有无效的键",
    "list_type": "必须是数组",
    "tuple_type": "必须是数组",
    "named_tuple_type": "必须是数组",
    "deque_type": "必须是数组",
    "set_type": "必须是数组",
    "frozen_set_type": "必须是数组",
    "iterable_type": "必须是数组",
    "iteration_error": "数组的元素无法读取",
    "set_item_not_hashable": "数组的元素必须是简单值",
    "too_short": "至少需要 {min_length} 项",
    "too_long": "最多 {max_length} 项",
    "none_required": "必须为 null",
    "no_such_attribute": "不是可识别的字段",
    "needs_python_object": "取值类型无效",
    "recursion_loop": "嵌套层次过深",
    "recursion_depth_exceeded": "嵌套层次过深",
    "frozen_field": "不允许修改",
    "frozen_instance": "不允许修改",
    "get_attribute_error": "取值无法读取",
    "default_factory_not_called": "取值无效",
    "missing_sentinel_error": "取值无效",
    "ellipsis_error": "取值无效",
    "is_instance_of": "取值类型无效",
    "is_subclass_of": "取值类型无效",
    "callable_type": "取值类型无效",
    # text
    "string_type": "必须是字符串",
    "string_unicode": "必须是有效的 UTF-8 文本（不能含孤立的代理字符）",
    "string_too_short": "至少 {min_length} 个字符",
    "string_too_long": "超过长度上限 {max_length} 个字符",
    "string_pattern_mismatch": "格式不符合要求（{pattern}）",
    "string_not_ascii": "只能含 ASCII 字符",
    "bytes_type": "必须是字符串",
    "bytes_too_short": "至少 {min_length} 个字节",
    "bytes_too_long": "超过长度上限 {max_length} 个字节",
    "bytes_invalid_encoding": "编码无效",
    # choices
    "literal_error": "取值无效，可选：{expected}",
    "enum": "取值无效，可选：{expected}",
    "union_tag_invalid": "类型标记 {tag} 无效，可选：{expected_tags}",
    "union_tag_not_found": "缺少类型标记字段 {discriminator}",
    # numbers and booleans
    "bool_type": "必须是布尔值（true 或 false）",
    "bool_parsing": "必须是布尔值（true 或 false）",
    "int_type": "必须是整数",
    "int_parsing": "必须是整数",
    "int_parsing_size": "整数超出可处理的范围",
    "int_from_float": "必须是整数（不能有小数部分）",
    "float_type": "必须是数字",
    "float_parsing": "必须是数字",
    "finite_number": "必须是有限的数字（不能是 NaN 或无穷大）",
    "multiple_of": "必须是 {multiple_of} 的整数倍",
    "decimal_type": "必须是数字",
    "decimal_parsing": "必须是数字",
    "decimal_max_digits": "数字最多 {max_digits} 位",
    "decimal_max_places": "小数最多 {decimal_places} 位",
    "decimal_whole_digits": "整数部分最多 {whole_digits} 位",
    "fraction_type": "必须是数字",
    "fraction_parsing": "必须是数字",
    "complex_type": "必须是数字",
    "complex_str_parsing": "必须是数字",
    "greater_than": _GT["gt"],
    "greater_than_equal": _GT["ge"],
    "less_than": _GT["lt"],
    "less_than_equal": _GT["le"],
    # dates, times, identifiers, links
    "date_type": "必须是日期（YYYY-MM-DD）",
    "date_parsing": "必须是日期（YYYY-MM-DD）",
    "date_from_datetime_parsing": "必须是日期（YYYY-MM-DD）",
    "date_from_datetime_inexact": "必须是日期，不能带时间",
    "date_past": "必须是过去的日期",
    "date_future": "必须是将来的日期",
    "time_type": "必须是时间（HH:MM:SS）",
    "time_parsing": "必须是时间（HH:MM:SS）",
    "datetime_type": "必须是日期时间（ISO 8601）",
    "datetime_parsing": "必须是日期时间（ISO 8601）",
    "datetime_object_invalid": "必须是日期时间（ISO 8601）",
    "datetime_from_date_parsing": "必须是日期时间（ISO 8601）",
    "datetime_past": "必须是过去的时间",
    "datetime_future": "必须是将来的时间",
    "timezone_naive": "不能带时区",
    "timezone_aware": "必须带时区",
    "timezone_offset": "时区偏移不符合要求",
    "time_delta_type": "必须是时长",
    "time_delta_parsing": "必须是时长",
    "url_type": "必须是网址",
    "url_parsing": "必须是网址",
    "url_syntax_violation": "网址格式无效",
    "url_too_long": "网址超过长度上限 {max_length}",
    "url_scheme": "网址协议无效，可选：{expected_schemes}",
    "uuid_type": "必须是 UUID",
    "uuid_parsing": "必须是 UUID",
    "uuid_version": "必须是第 {expected_version} 版 UUID",
    # call arguments (validated functions)
    "arguments_type": "参数无效",
    "missing_argument": "缺少必填参数",
    "unexpected_keyword_argument": "不是可识别的参数",
    "missing_keyword_only_argument": "缺少必填参数",
    "unexpected_positional_argument": "不是可识别的参数",
    "missing_positional_only_argument": "缺少必填参数",
    "multiple_argument_values": "参数重复",
    # validators of our own: their message is the exception's (Chinese by convention)
    "value_error": "取值无效",
    "assertion_error": "取值无效",
}

_TYPE_NAMES = {"str": "字符串", "int": "整数", "float": "数字", "bool": "布尔值", "none": "null",
               "dict": "JSON 对象", "list": "数组", "constrained-str": "字符串"}
_SOURCES = ("body", "query", "path", "header", "cookie")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_QUOTED = re.compile(r"'([^']*)'")


def is_union_tag(part: Any) -> bool:
    """A location part that names a union member (``str``, ``list[str]``, ``function-after[…]``), not a field."""
    return isinstance(part, str) and (part in _TYPE_NAMES or any(c in part for c in "[]()-"))


def type_name(tag: str) -> str:
    """``list[str]`` → 字符串数组; ``str`` → 字符串 (for the message of a field that takes one of several types)."""
    head, _, inner = tag.partition("[")
    if head == "list":
        return f"{type_name(inner.rstrip(']'))}数组" if inner else "数组"
    if head.startswith("function-") or head == "constrained-str":
        return "字符串"
    return _TYPE_NAMES.get(head, head)


def field_path(loc: tuple[Any, ...]) -> str:
    """``("body", "items", 1, "text")`` → ``items.1.text``; from a union member's tag on, the location is the
    union's field itself (``("body", "topic", "list[str]", 0)`` → ``topic``)."""
    parts = list(loc[1:] if loc and loc[0] in _SOURCES else loc)
    tag = _union_tag_index(parts)
    return ".".join(str(p) for p in parts[:tag]) or "body"


def _union_tag_index(parts: list[Any]) -> int | None:
    """Where a union member's tag stands in a location (never first: that is a field, e.g. header ``x-api-key``)."""
    return next((n for n, p in enumerate(parts) if n > 0 and is_union_tag(p)), None)


def _choices(expected: Any) -> str:
    """``"'auto', 'tfidf' or 'bert'"`` → ``auto、tfidf、bert``."""
    found = _QUOTED.findall(str(expected))
    return "、".join(found) if found else str(expected)


def describe(err: dict[str, Any]) -> str:
    """One error in Chinese (without the field name)."""
    kind = str(err.get("type", ""))
    ctx = dict(err.get("ctx") or {})
    if kind in ("value_error", "assertion_error"):
        own = str(ctx.get("error", ""))
        if _CJK.search(own):
            return own
        if "UploadFile" in str(err.get("msg", "")):
            return "必须是上传的文件（multipart/form-data）"
    if kind in ("literal_error", "enum"):
        ctx["expected"] = _choices(ctx.get("expected", ""))
    if kind in ("string_too_short", "too_short") and ctx.get("min_length") == 1:
        return "不能为空"
    template = MESSAGES.get(kind, "取值无效")
    names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    return template.format(**{n: ctx.get(n, "") for n in names})


def _tag(loc: tuple[Any, ...]) -> str | None:
    parts = list(loc[1:] if loc and loc[0] in _SOURCES else loc)
    index = _union_tag_index(parts)
    return None if index is None else str(parts[index])


def _merged(field: str, errors: list[dict[str, Any]]) -> str:
    """The errors of one field: one message, or 'must be one of these types' when it takes a union."""
    tags = [_tag(tuple(e.get("loc", ()))) for e in errors]
    if all(tags) and len(set(tags)) > 1:
        return "应为" + "或".join(dict.fromkeys(type_name(str(t)) for t in tags))
    return describe(errors[0])


def describe_errors(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    """``[{"field", "message"}]`` in the order of the errors, one entry per field."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for err in errors:
        loc = tuple(err.get("loc", ()))
        if loc == ("body",) and err.get("type") == "missing":
            grouped.setdefault("body", []).append({"type": "body_missing"})
            continue
        grouped.setdefault(field_path(loc), []).append(err)
    out = []
    for field, errs in grouped.items():
        if errs[0].get("type") == "body_missing":
            message = "缺少请求体（需要 JSON 对象，Content-Type: application/json）"
        elif field == "body" and errs[0].get("type") in ("model_attributes_type", "dict_type", "model_type"):
            message = "请求体必须是 JSON 对象（Content-Type: application/json）"
        else:
            message = _merged(field, errs)
        out.append({"field": field, "message": message})
    return out
