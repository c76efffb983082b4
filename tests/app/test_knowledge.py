"""Directory knowledge in routing: the duty table (who usually leads a topic) and towns that lead local matters."""

import numpy as np

from sqmy.app.knowledge import DirectoryKnowledge
from sqmy.app.policy import RoutingPolicy
from sqmy.app.routing import build_result
from sqmy.models.base import Doc, HeadProbabilities


class Fixed:
    """An engine stand-in with fixed probabilities."""

    name, version = "fixed", "fixed-1"

    def __init__(self, topic_l2, lead, topic_l3=None):
        self.topic_l1_classes_ = ["城乡建设", "政法"]
        self.topic_l2_classes_ = ["城乡建设/村镇建设", "政法/户籍证件"]
        self.topic_l3_classes_ = ["政法/户籍证件/户籍管理", "政法/户籍证件/身份证管理"]
        self.lead_classes_ = self.involved_classes_ = ["市公安局", "市民政局", "白沙镇", "青石镇"]
        l2 = np.array([topic_l2])
        self.probs = HeadProbabilities(np.array([[l2[0, 0], l2[0, 1]]]), l2, np.array([lead]),
                                       np.full((1, 4), 0.1), None if topic_l3 is None else np.array([topic_l3]))


def test_duty_prior_brings_the_usual_lead_of_a_recognised_topic():
    engine = Fixed([0.05, 0.95], [0.30, 0.40, 0.15, 0.15])  # topic sure, lead head unsure and wrong
    plain = build_result(engine, engine.probs, 0, RoutingPolicy())
    assert plain.lead.name == "市民政局"
    knowledge = DirectoryKnowledge({"政法/户籍证件": ("市公安局",)}, ("白沙镇", "青石镇"), prior_weight=0.3)
    routed = build_result(engine, engine.probs, 0, RoutingPolicy(), knowledge=knowledge)
    assert routed.lead.name == "市公安局"
    assert abs(sum(c.confidence for c in routed.department_candidates) - 1) < 1e-3


def test_level3_listing_is_more_specific_than_level2():
    engine = Fixed([0.0, 1.0], [0.25, 0.25, 0.25, 0.25], topic_l3=[0.9, 0.1])
    knowledge = DirectoryKnowledge({"政法/户籍证件": ("市民政局",), "政法/户籍证件/户籍管理": ("市公安局",)},
                                   prior_weight=1.0)
    prior = knowledge.lead_prior(engine, engine.probs, 0)
    assert prior is not None and np.argmax(prior) == 0 and abs(prior[0] - 0.9) < 1e-6 and abs(prior[1] - 0.1) < 1e-6


def test_a_town_lead_is_the_town_the_text_names():
    engine = Fixed([0.9, 0.1], [0.1, 0.1, 0.2, 0.6])  # "a town": the model's favourite town is 青石镇
    knowledge = DirectoryKnowledge({}, ("白沙镇", "青石镇"))
    doc = Doc(title="村道坑洼", text="白沙镇前洋村的村道坑坑洼洼，下雨天积水，请镇里尽快修一修。")
    routed = build_result(engine, engine.probs, 0, RoutingPolicy(), doc=doc, knowledge=knowledge)
    assert routed.lead.name == "白沙镇" and routed.lead.confidence == 0.6
    unnamed = build_result(engine, engine.probs, 0, RoutingPolicy(), doc=Doc("村道坑洼没人修"), knowledge=knowledge)
    assert unnamed.lead.name == "青石镇"


def test_town_share_of_the_prior_goes_to_the_town_the_text_names():
    engine = Fixed([1.0, 0.0], [0.25, 0.25, 0.25, 0.25])
    knowledge = DirectoryKnowledge({"城乡建设/村镇建设": ("白沙镇", "青石镇")}, ("白沙镇", "青石镇"), prior_weight=1.0)
    named = knowledge.named_locality("青石镇上街村的路灯坏了", engine.lead_classes_)
    prior = knowledge.lead_prior(engine, engine.probs, 0, named)
    assert prior is not None and prior[3] == 1.0


def test_the_shipped_directory_lists_duties_for_level3_leaves_and_towns(labels):
    knowledge = DirectoryKnowledge.from_directory(labels.directory, 0.3)
    assert knowledge.localities and "城东街道" in knowledge.localities
    assert any(topic.count("/") == 2 for topic in knowledge.leads_by_topic)
    assert any(set(units) >= set(knowledge.localities) for units in knowledge.leads_by_topic.values())


def test_the_town_or_street_the_text_names_assists_the_lead_unit():
    engine = Fixed([0.05, 0.95], [0.80, 0.10, 0.05, 0.05])  # 市公安局 leads; no unit is involved above 0.5
    knowledge = DirectoryKnowledge({}, ("白沙镇", "青石镇", "城东街道"), prior_weight=0.0)
    policy = RoutingPolicy()
    routed = build_result(engine, engine.probs, 0, policy, doc=Doc("城东街道幸福小区门口每晚有人聚众赌博"),
                          knowledge=knowledge)
    assert routed.lead.name == "市公安局"
    assert [a.name for a in routed.assists] == ["城东街道"]  # a street the model never learned as a unit
    assert routed.assists[0].confidence >= policy.assist_threshold
    plain = build_result(engine, engine.probs, 0, policy, doc=Doc("小区门口每晚有人聚众赌博"), knowledge=knowledge)
    assert plain.assists == ()
    none = build_result(engine, engine.probs, 0, RoutingPolicy(max_assists=0),
                        doc=Doc("城东街道幸福小区门口每晚有人聚众赌博"), knowledge=knowledge)
    assert none.assists == ()


def test_a_town_that_leads_is_not_also_an_assisting_unit():
    engine = Fixed([0.95, 0.05], [0.05, 0.05, 0.10, 0.80])  # 青石镇 leads
    knowledge = DirectoryKnowledge({}, ("白沙镇", "青石镇"), prior_weight=0.0)
    routed = build_result(engine, engine.probs, 0, RoutingPolicy(), doc=Doc("青石镇新农村建设道路没修好"),
                          knowledge=knowledge)
    assert routed.lead.name == "青石镇" and routed.assists == ()
