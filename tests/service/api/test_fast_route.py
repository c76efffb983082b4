"""``/v1/classify`` takes a short way for a well-formed JSON body (service/fastroute.py) and FastAPI's own for
anything else: the two must be indistinguishable to a client, and the OpenAPI document must not change."""

import httpx

ITEM = {"id": "fast-1", "title": "路灯坏了",
        "text": "小区3栋门口的路灯坏了一个多月，晚上出门很不安全，请尽快维修。电话13812345678"}


def post(server, path, body: bytes, content_type: str) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", content=body, headers={"content-type": content_type}, timeout=30)


def answer(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    out = response.json()
    out.pop("classification_id")  # new for each classification
    return out


def test_a_json_body_gets_the_same_answer_on_either_way(server):
    body = httpx.Request("POST", "/", json=ITEM).content
    short = answer(post(server, "/v1/classify", body, "application/json"))
    with_charset = answer(post(server, "/v1/classify", body, "application/json; charset=utf-8"))
    fastapi_way = answer(post(server, "/v1/classify", body, "application/vnd.sqmy+json"))  # JSON, not the short way
    assert short == with_charset == fastapi_way
    assert short["id"] == "fast-1" and short["topic"] and short["departments"][0]["role"] == "lead"
    assert any(f["kind"] == "phone" and f["text"] == "138****5678" for f in short["facts"])  # masked either way


def test_the_batch_route_answers_the_same_on_either_way(server):
    body = httpx.Request("POST", "/", json={"items": [ITEM, {"text": "出租车拒载还绕路"}], "top_k": 2}).content
    short = post(server, "/v1/classify/batch", body, "application/json").json()
    fastapi_way = post(server, "/v1/classify/batch", body, "application/vnd.sqmy+json").json()
    for data in (short["data"], fastapi_way["data"]):
        for item in data:
            item.pop("classification_id")
    assert short == fastapi_way and short["count"] == 2 and len(short["data"][0]["topic_candidates"]) == 2


def test_a_body_the_short_way_refuses_gets_fastapi_s_error(server):
    """A lone surrogate escape is JSON that orjson refuses; FastAPI's way decodes it and the model's own check
    answers, naming the field in Chinese, exactly as before."""
    r = post(server, "/v1/classify", b'{"text": "\\ud800abc"}', "application/json")
    assert r.status_code == 422 and r.json()["field"] == "text" and "代理" in r.json()["error"]
    r = post(server, "/v1/classify", b'{"text": "abc", "top_k": NaN}', "application/json")
    assert r.status_code == 422 and r.json()["field"] == "top_k"
    r = post(server, "/v1/classify", b"", "application/json")
    assert r.status_code == 422 and r.json()["error_type"] == "validation"


def test_the_openapi_document_still_describes_both_routes(server):
    doc = httpx.get(f"{server.url}/openapi.json", timeout=30).json()
    one, batch = doc["paths"]["/v1/classify"]["post"], doc["paths"]["/v1/classify/batch"]["post"]
    assert one["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/ClassifyRequest")
    assert one["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/ClassifyResponse")
    assert batch["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/BatchClassifyRequest")
    assert batch["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/BatchPrediction")
    assert {"422", "413"} <= set(one["responses"])
