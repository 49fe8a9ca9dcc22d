"""Monitoring over the real Dagster instance, a real MLflow registry and audit rows written by the
decision service's own sink: a champion whose skill breaks at a regime change is seen falling,
its check fails, and the decay sensor asks for retraining once."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import orjson
import polars as pl
import pytest

from nexus_assets.clock import now_utc
from nexus_assets.decision_log import DECISION_TABLE, served_predictions
from nexus_assets.defs.monitoring.assets import (
    DRIFT_CHECK,
    PREDICTOR_CHECK,
    VOLATILITY_CHECK,
    model_monitoring,
)
from nexus_assets.defs.monitoring.promotion import model_promotion
from nexus_assets.defs.monitoring.sensors import CHECK_TAG, REASON_TAG, model_decay_sensor
from nexus_assets.ml import registry
from nexus_assets.ml.features import FEATURE_COLUMNS, compute_features
from nexus_assets.ml.monitoring import bar_outcomes
from nexus_assets.ml.registry.challengers import challenger
from nexus_assets.resources.decision_log import DecisionLogResource
from nexus_assets.sim.market import MarketSimConfig, latest_close, simulate_market, start_for_end
from nexus_serving.audit import AuditRecord
from nexus_serving.audit.record import to_row
from nexus_serving.audit.sinks import TABLE, SqliteSink
from nexus_serving.schemas import DecisionResponse

SYMBOLS = tuple(f"S{i}" for i in range(12))
BREAK = 330
"""Bar index of the regime change: the champion's edge turns into its opposite."""


@pytest.fixture(scope="module")
def market() -> pl.DataFrame:
    """Bars ending at the newest close, as the stand-ins serve them: decisions are recent."""
    start = start_for_end(latest_close(now_utc()), 420)
    return simulate_market(MarketSimConfig(symbols=SYMBOLS, n_bars=420, seed=11, start=start))


@pytest.fixture(scope="module")
def features(market) -> pl.DataFrame:
    return compute_features(market)


def _register_champions(trained_until: datetime, folder: Path) -> None:
    """Version 1 of the predictor and the volatility model, champions, as the gate leaves them
    (the artifact itself is never read by monitoring)."""
    client = registry.configure()
    folder.mkdir(parents=True, exist_ok=True)
    for name in (registry.PREDICTOR_MODEL, registry.VOLATILITY_MODEL):
        client.create_registered_model(name)
        version = client.create_model_version(
            name, source=folder.as_uri(), tags={"trained_until": trained_until.isoformat()}
        )
        client.set_registered_model_alias(name, registry.CHAMPION_ALIAS, version.version)


def _decisions(market: pl.DataFrame, features: pl.DataFrame, first: int, last: int, rng) -> list[AuditRecord]:
    """A decision per symbol on each bar in ``[first, last)`` by champion v1: before ``BREAK`` its
    predicted return knows a little of the next one and its volatility forecast is the EWMA's;
    from ``BREAK`` on the predictor is wrong-way and the forecast ten times too wide."""
    outcomes = bar_outcomes(market, features).with_columns(index=pl.int_range(pl.len()).over("symbol"))
    records = []
    for row in outcomes.filter(pl.col("index").is_between(first, last - 1)).iter_rows(named=True):
        if row["next_return"] is None or row["ewma_variance"] is None:
            continue
        broken = row["index"] >= BREAK
        signal = -row["next_return"] if broken else row["next_return"]
        vol = np.sqrt(row["ewma_variance"]) * (10.0 if broken else 1.0)
        response = DecisionResponse(
            request_id=f"r-{uuid.uuid4().hex}",
            decision_id=uuid.uuid4().hex,
            action="execute",
            target_weight=0.05 if signal > 0 else -0.05,
            quantity=None,
            confidence=0.6,
            predicted_return=float(signal * 0.5 + rng.normal(0, 0.01)),
            volatility_forecast=float(vol),
            anomaly_score=0.1,
            reasons=[],
            model_versions={
                registry.PREDICTOR_MODEL: "1",
                registry.VOLATILITY_MODEL: "1",
                registry.ANOMALY_MODEL: "1",
            },
            decided_at=row["timestamp"] + timedelta(hours=2),
        )
        records.append(
            AuditRecord(row["symbol"], response, "f" * 64, 1.0, b"{}", fingerprint=uuid.uuid4().bytes)
        )
    return records


def _store(path: Path, records: list[AuditRecord]) -> None:
    sink = SqliteSink(path)
    sink.commit([to_row(r) for r in records])
    sink.close()


def _run_on(
    instance, asset: dg.AssetsDefinition, market, features, audit: Path, config: dict
) -> dg.ExecuteInProcessResult:
    """``asset`` in a real run on ``instance``, its inputs the given bars and features."""

    @dg.asset(name="market_bars")
    def bars() -> pl.DataFrame:
        return market

    @dg.asset(name="features")
    def feature_table() -> pl.DataFrame:
        return features

    return dg.materialize_to_memory(
        [bars, feature_table, asset],
        resources={"decision_log": DecisionLogResource(database_url=f"sqlite:///{audit}")},
        instance=instance,
        run_config={"ops": {asset.key.to_python_identifier(): {"config": config}}},
    )


def _materialize(instance, market, features, audit_path: Path, **config) -> dg.ExecuteInProcessResult:
    settings = {"window_bars": 40, "min_predictions": 50, **config}
    return _run_on(instance, model_monitoring, market, features, audit_path, settings)


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {c.check_name: c for c in result.get_asset_check_evaluations()}


def test_the_reader_and_the_service_agree_on_the_table():
    assert DECISION_TABLE == TABLE


def test_served_rows_read_back_with_their_versions_and_scores(tmp_path, market, features):
    records = _decisions(market, features, 300, 303, np.random.default_rng(0))
    _store(tmp_path / "audit.db", records)
    read = served_predictions(f"sqlite:///{tmp_path / 'audit.db'}")
    assert read.height == len(records)
    first = records[0].response
    row = read.filter(pl.col("decision_id") == first.decision_id).row(0, named=True)
    assert row["predictor_version"] == row["volatility_version"] == "1"
    assert row["predicted_return"] == first.predicted_return
    assert row["decided_at"] == first.decided_at
    assert served_predictions(f"sqlite:///{tmp_path / 'missing.db'}").is_empty()


def test_a_regime_change_fails_the_champions_checks_and_retrains_once(
    tmp_path, market, features, monkeypatch
):
    times = market["timestamp"].unique().sort()
    _register_champions(times[260], tmp_path / "artifact")
    audit = tmp_path / "audit.db"
    rng = np.random.default_rng(1)
    monkeypatch.setenv("NEXUS_RETRAIN_COOLDOWN_HOURS", "24")
    skill_only = {"psi_warn": 50.0, "psi_fail": 100.0}  # drift has its own test
    with dg.instance_for_test() as instance:
        # Before the break: the champion beats its baselines, nothing fails, nothing retrains.
        _store(audit, _decisions(market, features, 262, BREAK, rng))
        healthy = _materialize(instance, market, features, audit, **skill_only)
        checks = _checks(healthy)
        assert checks[PREDICTOR_CHECK].passed, checks[PREDICTOR_CHECK].metadata["reason"]
        assert checks[VOLATILITY_CHECK].passed, checks[VOLATILITY_CHECK].metadata["reason"]
        table = healthy.output_for_node("model_monitoring")
        before = table.filter(model="predictor").row(0, named=True)
        assert before["champion"] and before["ic"] > 0.3 > before["baseline_ic"]
        context = dg.build_sensor_context(instance=instance)
        assert isinstance(model_decay_sensor(context), dg.SkipReason)

        # After it: the live IC falls below momentum's, the forecasts lose to EWMA's: both fail.
        _store(audit, _decisions(market, features, BREAK, 419, rng))
        broken = _materialize(instance, market, features, audit, **skill_only)
        checks = _checks(broken)
        for name in (PREDICTOR_CHECK, VOLATILITY_CHECK):
            assert not checks[name].passed
            assert checks[name].severity == dg.AssetCheckSeverity.ERROR
            assert checks[name].metadata["level"].value == "fail"
        assert "below momentum's" in checks[PREDICTOR_CHECK].metadata["reason"].value
        meta = instance.get_latest_materialization_event(
            dg.AssetKey("model_monitoring")
        ).asset_materialization.metadata
        assert "live_ic_plot" in meta and meta["scored"].value > 1000
        assert DRIFT_CHECK in checks

        # The sensor asks for retraining once: one run key, the reasons in its tags.
        context = dg.build_sensor_context(instance=instance, cursor=context.cursor)
        launched = model_decay_sensor(context)
        assert isinstance(launched, dg.SensorResult)
        [request] = launched.run_requests
        assert request.run_key.startswith(f"model-decay:{PREDICTOR_CHECK}:")
        assert PREDICTOR_CHECK in request.tags[CHECK_TAG] and VOLATILITY_CHECK in request.tags[CHECK_TAG]
        assert "below momentum's" in request.tags[REASON_TAG]
        again = model_decay_sensor(dg.build_sensor_context(instance=instance, cursor=launched.cursor))
        assert isinstance(again, dg.SkipReason), "the same failure launches nothing more"

        # A new failure inside the cool-down is recorded, not launched.
        _materialize(instance, market, features, audit, **skill_only)
        cooled = model_decay_sensor(dg.build_sensor_context(instance=instance, cursor=launched.cursor))
        assert isinstance(cooled, dg.SkipReason) and "cool-down" in cooled.skip_message


def test_drift_fails_when_the_newest_features_leave_the_training_population(tmp_path):
    """A calm market's own newest bars pass; the same bars with every feature tripled (inputs from
    another population, as after a broken feed) fail."""
    start = start_for_end(latest_close(now_utc()), 420)
    calm = simulate_market(
        MarketSimConfig(
            symbols=SYMBOLS, n_bars=420, seed=13, start=start, calm_to_stress=0.0, jump_probability=0.0
        )
    )
    features = compute_features(calm)
    times = features["timestamp"].unique().sort()
    cut = times[len(times) - 64]
    _register_champions(cut, tmp_path / "artifact")
    newest = pl.col("timestamp") > cut
    tripled = features.with_columns(
        [pl.when(newest).then(pl.col(c) * 3.0).otherwise(pl.col(c)).alias(c) for c in FEATURE_COLUMNS]
    )
    audit = tmp_path / "audit.db"
    with dg.instance_for_test() as instance:
        same = _checks(_materialize(instance, calm, features, audit))[DRIFT_CHECK]
        moved = _checks(_materialize(instance, calm, tripled, audit))[DRIFT_CHECK]
    assert same.passed, same.metadata["reason"]
    assert same.metadata["level"].value == "pass"
    assert not moved.passed and moved.severity == dg.AssetCheckSeverity.ERROR, moved.metadata["reason"]
    assert "the median is past 0.25" in moved.metadata["reason"].value


def test_a_warning_alone_retrains_nothing(tmp_path, market, features):
    times = market["timestamp"].unique().sort()
    _register_champions(times[260], tmp_path / "artifact")
    audit = tmp_path / "audit.db"
    _store(audit, _decisions(market, features, BREAK, 419, np.random.default_rng(2)))
    lenient = {"ic_fail_margin": 5.0, "qlike_fail_margin": 50.0, "psi_warn": 50.0, "psi_fail": 100.0}
    with dg.instance_for_test() as instance:
        checks = _checks(_materialize(instance, market, features, audit, **lenient))
        assert checks[PREDICTOR_CHECK].severity == dg.AssetCheckSeverity.WARN
        assert checks[PREDICTOR_CHECK].metadata["level"].value == "warn"
        skipped = model_decay_sensor(dg.build_sensor_context(instance=instance))
    assert isinstance(skipped, dg.SkipReason)


def _challenge(folder: Path, *, beats_baselines: bool = True) -> None:
    """Version 2 of the predictor holds the challenger alias, as the gate leaves it in shadow mode."""
    client = registry.configure()
    version = client.create_model_version(
        registry.PREDICTOR_MODEL, source=folder.as_uri(), tags={"gate.beats_baselines": str(beats_baselines)}
    )
    client.set_registered_model_alias(registry.PREDICTOR_MODEL, registry.CHALLENGER_ALIAS, version.version)


def _shadow_rows(records: list[AuditRecord], *, right_way: bool) -> list[tuple]:
    """The shadow scores of each decision by predictor v2: after the break the champion's signal is
    the wrong way round; v2 turns it the right way (``right_way``) or repeats the mistake."""
    rng = np.random.default_rng(7)
    rows = []
    for record in records:
        answer = record.response
        shadow_return = -answer.predicted_return if right_way else answer.predicted_return
        versions = {**answer.model_versions, registry.PREDICTOR_MODEL: "2"}
        rows.append(
            (
                answer.decision_id,
                answer.decided_at,
                answer.decided_at,
                orjson.dumps(versions).decode(),
                orjson.dumps({registry.PREDICTOR_MODEL: "2"}).decode(),
                float(shadow_return + rng.normal(0, 0.001)),
                answer.volatility_forecast,
                answer.anomaly_score,
                answer.action,
                answer.target_weight,
                None,
            )
        )
    return rows


def _promote(instance, market, features, audit: Path, **config) -> dg.ExecuteInProcessResult:
    return _run_on(
        instance, model_promotion, market, features, audit, {"min_shadow_decisions": 100, **config}
    )


@pytest.mark.parametrize(
    ("right_way", "beats_baselines", "promoted", "reason"),
    [
        (True, True, True, "promoted on shadow evidence"),
        (False, True, False, "kept champion v1: live ic"),
        (True, False, False, "offline gate did not find it beating the naive baselines"),
    ],
)
def test_a_challenger_better_on_the_same_live_decisions_is_promoted(
    tmp_path, market, features, right_way, beats_baselines, promoted, reason
):
    times = market["timestamp"].unique().sort()
    _register_champions(times[260], tmp_path / "artifact")
    _challenge(tmp_path / "artifact", beats_baselines=beats_baselines)
    audit = tmp_path / "audit.db"
    records = _decisions(market, features, BREAK, 419, np.random.default_rng(3))
    _store(audit, records)
    sink = SqliteSink(audit)
    sink.write_shadow(_shadow_rows(records, right_way=right_way))
    sink.close()
    with dg.instance_for_test() as instance:
        table = _promote(instance, market, features, audit).output_for_node("model_promotion")
    [row] = table.to_dicts()
    assert (row["model"], row["champion_version"], row["challenger_version"]) == ("predictor", "1", "2")
    assert row["shadow_decisions"] == len(records)
    assert row["promoted"] is promoted and reason in row["reason"], row["reason"]
    client = registry.configure()
    assert registry.champion_version(client, registry.PREDICTOR_MODEL) == ("2" if promoted else "1")
    still = challenger(client, registry.PREDICTOR_MODEL)
    assert (still is None) is promoted
    if promoted:
        assert client.get_model_version(registry.PREDICTOR_MODEL, "2").tags["gate.promoted_by"] == "shadow"


def test_in_shadow_mode_the_gate_makes_a_better_version_the_challenger(tmp_path):
    client = registry.configure()
    folder = tmp_path / "artifact"
    folder.mkdir()
    (folder / "model.txt").write_text("a model")
    client.create_registered_model(registry.VOLATILITY_MODEL)
    for _ in range(2):
        client.create_model_version(registry.VOLATILITY_MODEL, source=folder.as_uri())
    client.set_registered_model_alias(registry.VOLATILITY_MODEL, registry.CHAMPION_ALIAS, "1")
    verdict = registry.judge_and_promote(
        client,
        model_name=registry.VOLATILITY_MODEL,
        version="2",
        metric=registry.GateMetric("qlike", higher_is_better=False),
        candidate_score=-9.5,
        baseline_ok=True,
        baseline_reason="beats GARCH and EWMA",
        score_champion=lambda _: -9.0,
        workdir=tmp_path / "work",
        shadow=True,
    )
    assert (verdict.promoted, verdict.challenger) == (False, True)
    assert verdict.reason.startswith("challenger in shadow beside champion v1")
    assert registry.champion_version(client, registry.VOLATILITY_MODEL) == "1"
    assert str(challenger(client, registry.VOLATILITY_MODEL).version) == "2"
    tags = client.get_model_version(registry.VOLATILITY_MODEL, "2").tags
    assert (tags["gate.challenger"], tags["gate.beats_baselines"]) == ("True", "True")


def _allocation_tables(records: list[AuditRecord]) -> dict[str, pl.DataFrame]:
    """The decisions as the allocation asset would have stored them, one table per bar."""
    from nexus_assets.allocation_record import REQUIRED_COLUMNS

    by_bar: dict[str, list[dict]] = {}
    for record in records:
        answer = record.response
        as_of = str(answer.decided_at - timedelta(hours=2))
        by_bar.setdefault(as_of, []).append(
            {
                "symbol": record.symbol, "target_weight": answer.target_weight, "desired_weight": answer.target_weight,
                "current_weight": 0.0, "action": answer.action, "confidence": answer.confidence, "reason_codes": "",
                "reasons": "", "signal_id": f"sig-{record.symbol}", "predicted_return": answer.predicted_return,
                "volatility_forecast": answer.volatility_forecast, "anomaly_score": answer.anomaly_score,
                "price": 100.0, "as_of": as_of,
            }
        )  # fmt: skip
    return {as_of: pl.DataFrame(rows, schema=REQUIRED_COLUMNS) for as_of, rows in by_bar.items()}


def test_allocated_predictions_are_kept_once_and_monitored(tmp_path, market, features):
    from nexus_assets.allocation_history import allocated_predictions, record_allocation
    from nexus_assets.allocation_record import table_allocation_id

    times = market["timestamp"].unique().sort()
    _register_champions(times[260], tmp_path / "artifact")
    versions = {registry.PREDICTOR_MODEL: "1", registry.VOLATILITY_MODEL: "1", registry.ANOMALY_MODEL: "1"}
    tables = _allocation_tables(_decisions(market, features, BREAK, 419, np.random.default_rng(4)))
    for table in tables.values():
        record_allocation(table, versions, table_allocation_id(table))
    first = next(iter(tables.values()))
    record_allocation(first, versions, table_allocation_id(first))  # a re-run of one allocation
    kept = allocated_predictions()
    assert kept.height == sum(t.height for t in tables.values()), "a re-run stores nothing twice"
    assert set(kept["predictor_version"]) == {"1"}
    with dg.instance_for_test() as instance:
        result = _materialize(
            instance, market, features, tmp_path / "no-audit.db", psi_warn=50.0, psi_fail=100.0
        )
        checks = _checks(result)
        meta = instance.get_latest_materialization_event(
            dg.AssetKey("model_monitoring")
        ).asset_materialization.metadata
    assert (meta["decisions"].value, meta["allocated_predictions"].value) == (0, kept.height)
    assert not checks[PREDICTOR_CHECK].passed, "the allocations alone show the broken champion"


def _on_strategy(record: AuditRecord, strategy_id: str, **change) -> AuditRecord:
    """The decision as made on a signal of ``strategy_id``, its response changed by ``change``."""
    fresh = {"decision_id": uuid.uuid4().hex, "request_id": f"r-{uuid.uuid4().hex}"}
    response = record.response.model_copy(update={**fresh, **change})
    request = orjson.dumps({"signal": {"strategy_id": strategy_id, "side": "buy"}})
    return dataclasses.replace(record, response=response, request=request, fingerprint=uuid.uuid4().bytes)


def test_the_snapshot_keeps_the_curves_the_verdicts_and_each_strategys_track_record(
    tmp_path, market, features
):
    """``right`` decides with the next bar's sign, ``wrong`` against it; ``right``'s halted
    decisions count as decisions but not as trades. The console reads all of it back."""
    from nexus_assets.monitoring_record import read_snapshot

    times = market["timestamp"].unique().sort()
    _register_champions(times[260], tmp_path / "artifact")
    base = _decisions(market, features, 262, BREAK, np.random.default_rng(5))
    audit = tmp_path / "audit.db"
    right = [_on_strategy(r, "right") for r in base]
    wrong = [_on_strategy(r, "wrong", target_weight=-r.response.target_weight) for r in base]
    halted = [_on_strategy(r, "right", action="halt", target_weight=0.0) for r in base[:10]]
    _store(audit, right + wrong + halted)
    assert read_snapshot() is None
    with dg.instance_for_test() as instance:
        result = _materialize(instance, market, features, audit, psi_warn=50.0, psi_fail=100.0)
    snapshot = read_snapshot()
    assert snapshot is not None and snapshot.run_id == result.run_id
    assert {c.name for c in snapshot.checks} == {PREDICTOR_CHECK, VOLATILITY_CHECK, DRIFT_CHECK}
    assert snapshot.champions == {"predictor": "1", "volatility": "1"}
    ic = next(c for c in snapshot.curves if c.metric == "ic")
    qlike = next(c for c in snapshot.curves if c.metric == "qlike")
    assert ic.champion and ic.version == "1" and len(ic.t) == len(ic.value) == len(ic.baseline) > 10
    assert qlike.model == "volatility" and all(v is None or v > -50 for v in qlike.value)
    assert [d.feature for d in snapshot.drift] and snapshot.psi_fail == 100.0
    good, bad = snapshot.track_record("right"), snapshot.track_record("wrong")
    assert good is not None and bad is not None
    assert (good.decisions, good.executed, good.halted) == (len(base) + 10, len(base), 10)
    assert good.scored == len(base) + 10 and good.traded == bad.traded > len(base) * 0.9
    assert good.hit_rate == 1.0 and bad.hit_rate == 0.0, "the losing strategy is shown as it is"
    assert good.gross_return > 0 > bad.gross_return
    assert good.gross_return == pytest.approx(-bad.gross_return)
    assert snapshot.track_record("no such strategy") is None
    meta = result.asset_materializations_for_node("model_monitoring")[0].metadata
    assert "right" in meta["strategy_track_record"].value
