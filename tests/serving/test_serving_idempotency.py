"""Idempotency over HTTP: retries get the stored decision; a reused id with other inputs is a 409."""

from __future__ import annotations

import gc

import orjson
import pytest
from serving_support import AUTH, decision_body

from nexus_serving.decisions.idempotency import IdempotencyConflictError, ResponseStore, request_fingerprint
from nexus_serving.schemas import DecisionRequest


def test_a_retry_with_reformatted_json_gets_the_stored_decision(client, market):
    body = decision_body(market, request_id="fmt-1", symbol="S3")
    first = client.post("/v1/decisions", json=body, headers=AUTH).json()
    reordered = dict(reversed(list(body.items())))
    raw = orjson.dumps(reordered, option=orjson.OPT_INDENT_2)
    again = client.post("/v1/decisions", content=raw, headers={**AUTH, "Content-Type": "application/json"})
    assert again.status_code == 200
    assert again.json() == first


def test_a_reused_request_id_with_a_different_body_is_a_conflict(client, market):
    body = decision_body(market, request_id="reuse-1", symbol="S3")
    first = client.post("/v1/decisions", json=body, headers=AUTH)
    assert first.status_code == 200
    changed = {**body, "signal": {**body["signal"], "side": "sell"}}
    conflict = client.post("/v1/decisions", json=changed, headers=AUTH)
    assert conflict.status_code == 409
    detail = conflict.json()["detail"][0]
    assert detail["loc"] == ["body", "request_id"]
    assert "reuse-1" in detail["msg"]
    # The stored decision is untouched by the rejected request.
    assert client.post("/v1/decisions", json=body, headers=AUTH).json() == first.json()


def test_batch_conflicts_name_the_item_and_decide_nothing(client, market):
    stored = decision_body(market, request_id="bc-0", symbol="S6")
    assert client.post("/v1/decisions", json=stored, headers=AUTH).status_code == 200
    fresh = decision_body(market, request_id="bc-1", symbol="S6")
    against_stored = {**stored, "signal": {**stored["signal"], "strength": 0.1}}
    response = client.post("/v1/decisions/batch", json={"requests": [fresh, against_stored]}, headers=AUTH)
    assert response.status_code == 409
    assert response.json()["detail"][0]["loc"] == ["body", "requests", 1, "request_id"]

    twin = {**fresh, "signal": {**fresh["signal"], "side": "sell"}}
    response = client.post("/v1/decisions/batch", json={"requests": [fresh, twin]}, headers=AUTH)
    assert response.status_code == 409
    assert response.json()["detail"][0]["loc"] == ["body", "requests", 1, "request_id"]
    # Nothing in the rejected batches was decided: bc-1 is still free for any body.
    assert client.post("/v1/decisions", json=twin, headers=AUTH).status_code == 200


def test_the_store_keeps_encoded_responses_out_of_the_collectors_sight(market):
    """Stored responses are bytes (never walked by a full collection); the oldest go first, a twin loses."""
    store = ResponseStore(capacity=2)
    requests = [
        DecisionRequest.model_validate_json(
            orjson.dumps(decision_body(market, request_id=f"lru-{i}", symbol="S1"))
        )
        for i in range(3)
    ]
    prints = [request_fingerprint(request) for request in requests]
    for request, fingerprint in zip(requests, prints, strict=True):
        encoded = orjson.dumps({"request_id": request.request_id})
        assert store.put(request.request_id, fingerprint, encoded) is encoded
    assert store.get(requests[0]) is None  # evicted: capacity 2
    stored = store.get(requests[2], prints[2])
    assert stored == b'{"request_id":"lru-2"}' and not gc.is_tracked(stored)
    assert store.put(requests[2].request_id, prints[2], b"{}") == stored  # the first one stays
    with pytest.raises(IdempotencyConflictError):
        store.get(requests[1], prints[2])
