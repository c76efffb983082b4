"""The HTTP side of routing: per-engine micro-batchers and ``auto``'s latency budget."""

import asyncio
import threading

from sqmy.app.policy import RoutingPolicy
from sqmy.app.routing import Router
from sqmy.app.serving import ServingRouter
from sqmy.models.base import Doc


class Stuck:
    """A BERT stand-in that blocks until released, counting the documents it was asked to compute."""

    name, version = "bert", "bert-stuck"

    def __init__(self, tfidf):
        self.tfidf, self.release, self.computed = tfidf, threading.Event(), 0

    def __getattr__(self, attr):  # labels of the real engine, so results can be built
        return getattr(self.tfidf, attr)

    def predict_proba(self, docs):
        self.release.wait(30)
        self.computed += len(docs)
        return self.tfidf.predict_proba(docs)


def test_fallback_answers_while_bert_is_stuck_and_cancelled_bert_work_is_skipped(tfidf_engine):
    stuck = Stuck(tfidf_engine)
    router = Router({"bert": stuck, "tfidf": tfidf_engine}, RoutingPolicy(bert_budget_s=0.05))
    reasons: list[str] = []

    async def scenario():
        serving = ServingRouter(router, max_batch=1, wait_seconds=0.0, on_fallback=reasons.append)
        serving.start()
        docs = [[Doc(f"小区{n}号楼电梯坏了")] for n in range(6)]
        # if TF-IDF queued behind the stuck BERT this would wait the full 30 s and then fail below
        answers = await asyncio.wait_for(asyncio.gather(*(serving.classify(d) for d in docs)), 20)
        stuck.release.set()
        await asyncio.sleep(0.3)  # let the BERT worker drain its queue
        await serving.stop()
        return answers

    answers = asyncio.run(scenario())
    assert [a[0].engine for a in answers] == ["tfidf"] * 6
    assert reasons == ["timeout"] * 6
    assert stuck.computed == 1  # only the batch already running; the five cancelled ones were skipped


def test_a_failing_engine_falls_back_per_item_and_a_named_engine_does_not(tfidf_engine):
    class Broken(Stuck):
        def predict_proba(self, docs):
            raise RuntimeError("boom")

    router = Router({"bert": Broken(tfidf_engine), "tfidf": tfidf_engine}, RoutingPolicy())

    async def scenario():
        serving = ServingRouter(router, max_batch=8, wait_seconds=0.0)
        serving.start()
        auto = await serving.classify([Doc("工厂偷排污水")])
        named = await serving.classify([Doc("工厂偷排污水")], engine="bert")
        await serving.stop()
        return auto, named

    auto, named = asyncio.run(scenario())
    assert auto[0].engine == "tfidf"
    assert isinstance(named[0], RuntimeError)


def test_a_big_batch_runs_in_chunks_and_a_single_item_does_not_wait_for_all_of_it(tfidf_engine):
    """A maximal /v1/classify/batch must not stall everyone else: it runs chunk by chunk, and a request that
    arrives meanwhile is answered before the big one's last chunk."""

    class Recording(Stuck):
        name = "tfidf"

        def __init__(self, tfidf):
            super().__init__(tfidf)
            self.batches: list[list[str]] = []

        def predict_proba(self, docs):
            self.batches.append([d.title for d in docs])
            return self.tfidf.predict_proba(docs)

    engine = Recording(tfidf_engine)
    router = Router({"tfidf": engine}, RoutingPolicy())
    big = [Doc("路灯不亮" * 2500, title=f"big-{n}") for n in range(8)]  # 10,000 characters each

    async def scenario():
        serving = ServingRouter(router, max_batch=256, wait_seconds=0.0, chunk_chars=20_000)
        serving.start()
        heavy = asyncio.create_task(serving.classify(big))
        await asyncio.sleep(0)  # the big request is queued first
        single = await serving.classify([Doc("小区电梯坏了", title="single")])
        answers = await heavy
        await serving.stop()
        return single, answers

    single, answers = asyncio.run(scenario())
    assert [a.topic for a in answers] and len(answers) == 8 and single[0].engine == "tfidf"
    assert all(len([t for t in batch if t.startswith("big")]) <= 2 for batch in engine.batches)
    served = next(i for i, batch in enumerate(engine.batches) if "single" in batch)
    last_big = max(i for i, batch in enumerate(engine.batches) if "big-7" in batch)
    assert served < last_big
