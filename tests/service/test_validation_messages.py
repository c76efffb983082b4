"""Every validation error pydantic can raise is described in Chinese, naming its field once."""

from __future__ import annotations

import re
import typing

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core.core_schema import ErrorType

from sqmy.service.validation_messages import MESSAGES, describe, describe_errors, field_path

CJK = re.compile(r"[\u4e00-\u9fff]")


def test_every_pydantic_error_type_has_a_chinese_message():
    known = set(typing.get_args(ErrorType))
    assert known - set(MESSAGES) == set()
    assert all(CJK.search(message) for message in MESSAGES.values())


@pytest.mark.parametrize("kind", sorted(typing.get_args(ErrorType)))
def test_each_message_is_chinese_even_without_its_context(kind):
    text = describe({"type": kind, "loc": ("body", "x"), "msg": "Input should be something", "ctx": {}})
    assert CJK.search(text) and "Input should" not in text


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=5)
    top_k: int | None = Field(default=None, ge=1, le=50)
    topic: str | list[str] | None = None
    role: typing.Literal["lead", "assist"] = "lead"


class Batch(BaseModel):
    items: list[Item] = Field(min_length=1, max_length=2)


def errors_of(model: type[BaseModel], data: object) -> list[dict[str, str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate_json(data if isinstance(data, str) else __import__("json").dumps(data))
    return describe_errors([{**e, "loc": ("body", *e["loc"])} for e in caught.value.errors()])


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"text": ""}, "text", "不能为空"),
    ({"text": "一二三四五六"}, "text", "超过长度上限 5 个字符"),
    ({"text": 5}, "text", "必须是字符串"),
    ({"text": "好", "top_k": 1.5}, "top_k", "必须是整数（不能有小数部分）"),
    ({"text": "好", "top_k": 51}, "top_k", "不能大于 50"),
    ({"text": "好", "top_k": 0}, "top_k", "不能小于 1"),
    ('{"text": "好", "top_k": NaN}', "top_k", "必须是有限的数字（不能是 NaN 或无穷大）"),
    ({"text": "好", "topic": 5}, "topic", "应为字符串或字符串数组"),
    ({"text": "好", "topic": [5]}, "topic", "应为字符串或字符串数组"),
    ({"text": "好", "role": "boss"}, "role", "取值无效，可选：lead、assist"),
    ({"text": "好", "colour": 1}, "colour", "不是可识别的字段"),
    ({}, "text", "缺少必填字段"),
])
def test_item_errors(data, field, message):
    first = errors_of(Item, data)[0]
    assert first == {"field": field, "message": message}


def test_nested_fields_are_named_by_their_path():
    assert errors_of(Batch, {"items": [{"text": "好"}, {"text": ""}]})[0] == {"field": "items.1.text",
                                                                            "message": "不能为空"}
    assert errors_of(Batch, {"items": []})[0] == {"field": "items", "message": "不能为空"}
    assert errors_of(Batch, {"items": [{"text": "好"}] * 3})[0] == {"field": "items", "message": "最多 2 项"}


def test_finite_numbers_and_a_missing_body():
    assert describe({"type": "finite_number", "loc": ("body", "x")}) == "必须是有限的数字（不能是 NaN 或无穷大）"
    assert describe_errors([{"type": "missing", "loc": ("body",)}])[0]["message"].startswith("缺少请求体")
    assert field_path(("query", "limit")) == "limit"
    assert field_path(("body", "topic", "list[str]", 0)) == "topic"
    assert field_path(("header", "x-api-key")) == "x-api-key"


def test_our_own_validators_keep_their_chinese_message_and_english_ones_do_not_leak():
    own = {"type": "value_error", "loc": ("body", "text"), "ctx": {"error": ValueError("不能为空（只有空白）")}}
    assert describe(own) == "不能为空（只有空白）"
    english = {"type": "value_error", "loc": ("body", "x"), "msg": "Value error, bad", "ctx": {"error": "bad"}}
    assert describe(english) == "取值无效"
