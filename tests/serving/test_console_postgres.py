"""The console's decisions read from the PostgreSQL audit store (read-only), filters included."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from audit_support import PG_URL
from psycopg import sql
from pydantic import SecretStr
from serving_support import AUTH, TOKEN, decision_body, serve, settings_for

from nexus_serving.console.audit_reader import Filters, decision, equity_marks, recent_decisions

pytestmark = pytest.mark.postgres


@pytest.fixture
def schema() -> Iterator[str]:
    name = f"console_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def test_recent_decisions_and_one_decision_come_from_postgres(trained_registry, cache_dir, market, schema):
    settings = settings_for(
        trained_registry, cache_dir, audit_database_url=SecretStr(PG_URL), audit_schema=schema
    )
    assert recent_decisions(settings, Filters()) == []  # before the service made the table
    with serve(settings) as client:
        made = [
            client.post(
                "/v1/decisions",
                json=decision_body(market, request_id=f"pg-console-{i}", symbol=f"S{i}"),
                headers=AUTH,
            ).json()
            for i in (1, 2)
        ]
        with_book = decision_body(
            market, request_id="pg-console-equity", symbol="S3", portfolio={"book": "pg", "equity": 5000.0}
        )
        assert client.post("/v1/decisions", json=with_book, headers=AUTH).status_code == 200
        with httpx.Client(base_url=client.base_url) as browser:
            assert browser.post("/console/sign-in", data={"token": TOKEN}).status_code == 303
            fragment = browser.get("/console/fragments/decisions", params={"symbol": "S2"}).text
            assert made[1]["decision_id"] in fragment and made[0]["decision_id"] not in fragment

    newest_first = recent_decisions(settings, Filters())
    assert [row.decision_id for row in newest_first][1:] == [made[1]["decision_id"], made[0]["decision_id"]]
    assert [(book, equity) for _, book, equity in equity_marks(settings)] == [("pg", 5000.0)]
    assert [row.symbol for row in recent_decisions(settings, Filters(symbol="S1"))] == ["S1"]
    assert len(recent_decisions(settings, Filters(strategy="st-1", action=made[0]["action"]))) >= 1
    assert recent_decisions(settings, Filters(strategy="nobody")) == []
    one = decision(settings, made[0]["decision_id"])
    assert one is not None and one.strategy_id == "st-1" and one.features_hash
    assert one.request["request_id"] == "pg-console-1" and one.request["bars"]
    assert one.response["decision_id"] == made[0]["decision_id"]
    assert decision(settings, "no-such-decision") is None
