"""HTTP request and response models (they also document the API at ``/docs``)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StringConstraints

from sqmy.core.config import EngineName

_VISIBLE = re.compile(r"[^\s\u200b\u200c\u200d\u2060\ufeff\x00]")  # not whitespace, zero-width, BOM or NUL


def _valid_unicode(text: str) -> str:
    """A lone UTF-16 surrogate (a JSON escape such as \\ud800 with no partner) is no character: refused, it would
    break word segmentation and every export."""
    try:
        text.encode("utf-8")  # 4x faster than a regex scan for [\ud800-\udfff] on long texts
    except UnicodeEncodeError:
        raise ValueError("含有无效的 Unicode 字符（不成对的代理项，如 \\ud800），请检查文本的编码") from None
    return text


def _visible(text: str) -> str:
    """Text made only of invisible characters is as empty as no text."""
    if not _VISIBLE.search(text):  # stops at the first visible character
        raise ValueError("不能为空（只有空白或不可见字符）")
    return text


NonEmptyText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1), AfterValidator(_visible),
                         AfterValidator(_valid_unicode)]
UnicodeText = Annotated[str, AfterValidator(_valid_unicode)]
EngineChoice = EngineName  # auto | tfidf | bert | ensemble


class ClassifyItem(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"id": "2026-0001", "title": "小区路灯坏了一个月",
                      "text": "我们小区3栋门口路灯坏了一个多月，晚上出门很不安全，请尽快维修。"}]
    })

    id: str | None = Field(default=None, max_length=200, description="调用方的条目编号，原样返回")
    title: UnicodeText = Field(default="", max_length=500, description="标题（可选）")
    text: NonEmptyText = Field(description="正文，不能为空")


ENGINE_HELP = ("缺省为服务配置 SQMY_ENGINE（默认 auto）。auto：有 BERT 模型时用 BERT 与 TF-IDF 的集成"
               "（SQMY_ENSEMBLE），BERT 超时或出错时由 TF-IDF 回答；否则 TF-IDF")
TOP_K_HELP = "候选数量，缺省为服务配置 SQMY_TOP_K（默认 5）"
FACTS_HELP = ("是否抽取正文中的要素（地点、电话、身份证号、车牌、人名，见结果的 facts 字段），"
              "缺省为服务配置 SQMY_FACTS（默认 true）；false 时结果不含 facts")


class ClassifyRequest(ClassifyItem):
    engine: EngineChoice | None = Field(default=None, description=ENGINE_HELP)
    top_k: StrictInt | None = Field(default=None, ge=1, le=50, description=TOP_K_HELP)
    facts: StrictBool | None = Field(default=None, description=FACTS_HELP)
    similar: StrictInt = Field(default=0, ge=0, le=20, description="同时返回最多这么多条相似的已存条目"
                               "（重复件或同一事项，见 /v1/similar）；0 = 不返回")


class SimilarItem(BaseModel):
    id: str = Field(description="条目编号：c-… 分类记录，f-… 反馈，其他为档案中的编号")
    score: float = Field(description="相似度：重复件为字符片段重合度，同一事项为向量相似度加地点项")
    kind: Literal["duplicate", "same_matter"] = Field(description="duplicate 重复件；same_matter 同一事项")
    jaccard: float = Field(description="字符片段（3 字）重合度估计")
    title: str
    snippet: str = Field(description="正文开头")
    topic: str | None = Field(description="分类路径（/ 分隔）")
    lead: str | None = Field(description="主办单位")
    date: str | None = Field(description="日期（YYYY-MM-DD）")
    verdict: str | None = Field(description="人工反馈：accept 采纳，correct 纠正，无则为空")
    source: str = Field(description="来源：api、feedback 或档案名")
    places: list[str] = Field(description="识别出的地点名")


class GroupHint(BaseModel):
    group_id: str = Field(description="相似条目所在的并案组")
    lead_item: str | None
    lead_unit: str | None = Field(description="并案组的主办单位：建议本条也由它主办")
    title: str | None = None
    via: str = Field(description="据以判断的相似条目")
    kind: str
    score: float


class BatchClassifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[ClassifyItem] = Field(min_length=1, description="待分类条目")
    engine: EngineChoice | None = Field(default=None, description=ENGINE_HELP)
    top_k: StrictInt | None = Field(default=None, ge=1, le=50, description=TOP_K_HELP)
    facts: StrictBool | None = Field(default=None, description=FACTS_HELP)


class TopicCandidate(BaseModel):
    topic: str
    topic_path: list[str]
    confidence: float


class Department(BaseModel):
    name: str
    role: Literal["lead", "assist"]
    confidence: float


class DepartmentCandidate(BaseModel):
    name: str
    confidence: float = Field(description="作为主办单位的概率")
    involvement: float = Field(description="参与办理（主办或协办）的概率")


class Fact(BaseModel):
    kind: Literal["place", "phone", "id_number", "plate", "person"] = Field(
        description="place 地点，phone 电话，id_number 身份证号，plate 车牌，person 人名")
    text: str = Field(description="原文（SQMY_MASK_PII 开启时电话与身份证号中间几位为 *，如 138****5678）")
    start: int = Field(description="在正文中的起始位置（字符，含）")
    end: int = Field(description="结束位置（字符，不含）")
    level: Literal["province", "city", "county", "town", "street", "village", "estate", "road", "other"] | None = (
        Field(default=None, description="地点的层级：省、市、县区、乡镇、街道、村社区、小区、道路、其他"))


class Prediction(BaseModel):
    id: str | None = None
    classification_id: str = Field(description="本次分类的编号，提交反馈（采纳/纠正）时引用")
    topic: str = Field(description="一级分类")
    topic_path: list[str] = Field(description="分类路径 [一级, 二级, 三级]（模型有三级分类时含三级）")
    topic_confidence: float
    topic_path_confidence: float
    topic_candidates: list[TopicCandidate]
    departments: list[Department] = Field(description="建议的主办（lead）与协办（assist）单位")
    department_candidates: list[DepartmentCandidate]
    engine: str
    model_version: str
    needs_review: bool
    review_reasons: list[str]
    facts: list[Fact] | None = Field(
        default=None, description="正文中的要素（地点、电话、身份证号、车牌、人名）及位置；"
                                  "请求 facts 为 false 时没有此字段")


class ClassifyResponse(Prediction):
    """The answer of POST /v1/classify: the prediction and, when asked (``similar``), the similar stored items."""

    similar: list[SimilarItem] | None = Field(default=None, description="请求 similar > 0 时：相似的已存条目"
                                              "（服务未开启该功能 SQMY_SIMILAR=off 时为空列表）")
    merge_group: GroupHint | None = Field(default=None, description="与已并案的条目相似时：该组及其主办单位")


class BatchPrediction(BaseModel):
    data: list[Prediction]
    count: int


class EngineInfo(BaseModel):
    engine: str
    model_version: str
    created_at: str | None = None
    topic_labels: int
    department_labels: int
    metrics: dict | None = None


class BuildingModel(BaseModel):
    job_id: str = Field(description="训练任务编号（/v1/jobs/{id}）")
    engine: str | None = Field(description="正在训练的引擎：tfidf、bert 或 all")
    status: str = Field(description="queued 或 running")
    stage: str | None = Field(description="当前阶段，如“编码语料（线性探针）”")
    percent: float | None = Field(description="完成百分比")
    eta_seconds: float | None = Field(description="预计剩余秒数")
    started_at: str | None
    message: str = Field(description="给人看的一句话，如“BERT 模型训练中 62%（…），约 3 分钟”")


class ServiceInfo(BaseModel):
    version: str
    default_engine: str
    engines: list[EngineInfo]
    answering: str | None = Field(description="default_engine 现在由哪个引擎应答（auto：ensemble、bert 或 tfidf）")
    building: list[BuildingModel] = Field(description="正在后台训练的模型")
    max_text_chars: int
    max_batch_size: int


class ExplainRequest(ClassifyItem):
    engine: EngineChoice | None = Field(default=None, description="与 /v1/classify 相同")
    topic: str | list[str] | None = Field(
        default=None, description="要解释的分类（一级或二级名称，或路径）；缺省为模型选中的分类")


class Span(BaseModel):
    start: int = Field(description="在正文（title_spans 为标题）中的起始位置（字符，含）")
    end: int = Field(description="结束位置（字符，不含）")
    text: str
    weight: float = Field(description="对该分类的贡献：正值支持，负值反对")


class Explanation(BaseModel):
    engine: str
    model_version: str
    topic: str
    topic_path: list[str]
    topic_confidence: float
    method: Literal["linear", "occlusion"] = Field(
        description="linear：TF-IDF 特征的 系数×权重；occlusion：逐词删除后该分类对数几率的下降")
    spans: list[Span] = Field(description="正文中影响判断的词")
    title_spans: list[Span] = Field(description="标题中影响判断的词")
