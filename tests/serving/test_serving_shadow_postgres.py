"""Challenger scores in the PostgreSQL audit store: ``decision_shadow`` beside ``decision_audit``."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from audit_support import PG_URL, wait_for
from challenger_support import VOLATILITY_SHIFT, copy_registry, shifted_volatility
from psycopg import sql
from pydantic import SecretStr
from serving_support import AUTH, decision_body, serve, settings_for

from nexus_assets.ml import registry
from nexus_serving.audit.shadow_table import read_shadow_pairs

pytestmark = pytest.mark.postgres


@pytest.fixture
def schema() -> Iterator[str]:
    name = f"shadow_test_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def test_challenger_scores_are_stored_beside_the_decisions_in_postgres(
    trained_registry, market, tmp_path, schema
):
    uri = copy_registry(trained_registry, tmp_path / "registry")
    version = shifted_volatility(uri, tmp_path / "volatility")
    settings = settings_for(
        uri, tmp_path / "cache", audit_database_url=SecretStr(PG_URL), audit_schema=schema
    )
    bodies = [decision_body(market, request_id=f"pg-shadow-{i}", symbol=f"S{i}") for i in range(3)]
    with serve(settings) as client:
        answers = [client.post("/v1/decisions", json=body, headers=AUTH).json() for body in bodies]
        wait_for(lambda: len(read_shadow_pairs(PG_URL, schema)) == 3, what="the shadow rows")
    by_id = {answer["decision_id"]: answer for answer in answers}
    for pair in read_shadow_pairs(PG_URL, schema):
        answer = by_id[pair.decision_id]
        assert (
            pair.error is None and pair.decided_at.isoformat().replace("+00:00", "Z") == answer["decided_at"]
        )
        assert pair.challenger_versions == {registry.VOLATILITY_MODEL: version}
        assert pair.champion_versions == answer["model_versions"]
        assert pair.champion["volatility_forecast"] == answer["volatility_forecast"]
        assert pair.champion["action"] == answer["action"]
        assert math.isclose(
            pair.shadow["volatility_forecast"],
            answer["volatility_forecast"] * math.exp(VOLATILITY_SHIFT / 2),
            rel_tol=1e-9,
        )
        assert pair.shadow["predicted_return"] == answer["predicted_return"]
