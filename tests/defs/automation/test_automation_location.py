"""The whole code location with its jobs, sensors, schedules and automation conditions."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest

from nexus_assets.definitions import defs

FOLLOWERS = {"features", "portfolio_allocation", "live_engine_orders", "backtest_report"}
MODELS = {"price_predictor", "volatility_model", "anomaly_detector"}
SOURCES = {"market_bars", "lona_strategies", "lona_signals"}
SIGNAL_JOB = {
    "lona_strategies",
    "lona_signals",
    "strategy_reviews",
    "features",
    "portfolio_allocation",
    "live_engine_orders",
}


@pytest.fixture(scope="module")
def location() -> dg.Definitions:
    loaded = defs()
    dg.Definitions.validate_loadable(loaded)
    return loaded


def _selected(location: dg.Definitions, job: str) -> set[str]:
    return {k.to_user_string() for k in location.resolve_job_def(job).asset_layer.selected_asset_keys}


def test_sensors_and_schedules_are_named_and_run_when_the_daemon_does(location):
    sensors = {s.name: s for s in location.sensors}
    schedules = {s.name: s for s in location.schedules}
    ours = [
        *(sensors[n] for n in ("lona_signal_sensor", "nexus_run_failure_sensor", "nexus_automation_sensor")),
        *(schedules[n] for n in ("market_data_schedule", "model_training_schedule")),
    ]
    for definition in ours:
        assert definition.default_status.value == "RUNNING", definition.name
        assert definition.description, definition.name
    assert sensors["lona_signal_sensor"].job_name == "lona_signals_job"
    assert sensors["lona_signal_sensor"].minimum_interval_seconds == 30
    assert schedules["market_data_schedule"].job_name == "market_data_job"
    assert schedules["model_training_schedule"].job_name == "model_training_job"


def test_stage_jobs_select_their_stage_and_carry_retry_policies(location):
    assert _selected(location, "nexus_main_job") >= SOURCES | FOLLOWERS | MODELS
    assert _selected(location, "lona_signals_job") == SIGNAL_JOB
    assert _selected(location, "market_data_job") == {"market_bars", "news_headlines"}
    assert _selected(location, "model_training_job") == MODELS

    signals = location.resolve_job_def("lona_signals_job")
    checks = {key.name for key in signals.asset_layer.asset_graph.asset_check_keys}
    assert "signals_well_formed" in checks
    assert "signals_match_market" not in checks, "it reads market_bars, which the job does not own"
    assert signals.run_tags["dagster/max_retries"] == "2"
    assert signals.run_tags["dagster/retry_strategy"] == "FROM_FAILURE"
    assert signals.run_tags["dagster/max_runtime"] == "900", "run monitoring ends a lost run"

    for name in ("market_data_job", "model_training_job"):
        policy = location.resolve_job_def(name).op_retry_policy
        assert policy is not None and policy.max_retries >= 1, name
        assert policy.backoff == dg.Backoff.EXPONENTIAL and policy.jitter == dg.Jitter.PLUS_MINUS, name


def test_only_the_downstream_assets_follow_automatically(location):
    graph = location.resolve_asset_graph()
    conditioned = {
        key.to_user_string()
        for key in graph.get_all_asset_keys()
        if graph.get(key).automation_condition is not None
    }
    assert conditioned >= FOLLOWERS
    assert conditioned.isdisjoint(SOURCES), "sources refresh by their sensor and schedule"
    assert conditioned.isdisjoint(MODELS), "models retrain on their schedule, never on every new signal"


def test_schedules_fire_after_the_close_and_weekly(location):
    market = location.resolve_schedule_def("market_data_schedule")
    assert (market.cron_schedule, market.execution_timezone) == ("30 16 * * 1-5", "America/New_York")
    training = location.resolve_schedule_def("model_training_schedule")
    assert (training.cron_schedule, training.execution_timezone) == ("0 6 * * 6", "UTC")
    friday = datetime(2026, 11, 27, 21, 30, tzinfo=UTC)
    for schedule in (market, training):
        result = schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=friday))
        assert len(result.run_requests) == 1, schedule.name


def _materialize(instance: dg.DagsterInstance, *keys: str) -> None:
    for key in keys:
        instance.report_runless_asset_event(dg.AssetMaterialization(key))


class Automation:
    """Evaluates the location's automation conditions as the automation sensor does, tick by tick."""

    def __init__(self, location: dg.Definitions) -> None:
        self.location = location
        self.instance = dg.DagsterInstance.ephemeral()
        graph = location.resolve_asset_graph()
        self.order = [
            k.to_user_string() for k in graph.toposorted_asset_keys if graph.get(k).is_materializable
        ]
        self.cursor = None

    def tick(self) -> set[str]:
        result = dg.evaluate_automation_conditions(
            defs=self.location, instance=self.instance, cursor=self.cursor
        )
        self.cursor = result.cursor
        return {key for key in self.order if result.get_num_requested(dg.AssetKey(key))}

    def run(self, keys: set[str]) -> None:
        """A run materializing ``keys``, upstream first."""
        _materialize(self.instance, *(key for key in self.order if key in keys))


# Dagster's own condition tester selects with a beta parameter.
@pytest.mark.filterwarnings("ignore::dagster.BetaWarning")
def test_new_signals_bars_or_models_refresh_what_follows_and_the_main_job_races_nothing(location):
    automation = Automation(location)
    assert automation.tick() == set(), "nothing upstream exists yet"

    automation.run(set(automation.order))  # the main job: every asset after its upstream ones
    assert automation.tick() == set(), "nothing to follow up after the main job"

    automation.run({"lona_strategies", "lona_signals"})  # signals refreshed on their own (e.g. a retry)
    requested = automation.tick()
    assert requested >= {"features", "portfolio_allocation", "live_engine_orders"}
    assert requested.isdisjoint(MODELS | {"backtest_report"})
    automation.run(requested)
    assert automation.tick() == set()

    automation.run(SIGNAL_JOB)  # lona_signals_job
    assert automation.tick().isdisjoint({"features", "portfolio_allocation", "live_engine_orders"}), (
        "the job already did them"
    )

    automation.run(MODELS)  # model_training_job
    requested = automation.tick()
    assert requested >= {"portfolio_allocation", "live_engine_orders", "backtest_report"}
    assert requested.isdisjoint(MODELS | {"features"})
    automation.run(requested)
    assert automation.tick() == set()

    automation.run({"market_bars", "news_headlines"})  # market_data_job
    requested = automation.tick()
    assert requested >= FOLLOWERS
    assert requested.isdisjoint(MODELS)
