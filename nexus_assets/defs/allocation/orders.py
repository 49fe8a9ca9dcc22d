"""`live_engine_orders`: the stored allocation, published to the Live Engine exactly once.

Publishing is its own asset so that orders only ever follow an allocation that is already
stored: the orders read `portfolio_allocation` back from its IO manager, name themselves
after the stored table's id (the id `GET /v1/allocations/latest` shows), and a failed
publish is retried from this step alone, against the same stored table, never against a
recomputed one. Every order goes through our ledger (`live_engine.publish`), so a retry, a
crash or a rerun never sends an order twice. The `live_engine` pool (limit 1 in
dagster.yaml) lets one publish run at a time across all runs; the ledger's hold on the
deployment keeps `nexus publish` out meanwhile.
"""

from collections.abc import Iterator

import dagster as dg
import polars as pl
from pydantic import Field

from nexus_assets.allocation_record import table_allocation_id
from nexus_assets.asset_metadata import frame_metadata
from nexus_assets.resources.live_engine import LiveEngineResource

PUBLISH_POOL = "live_engine"
ORDER_SCHEMA = {
    "order_id": pl.String,
    "symbol": pl.String,
    "side": pl.String,
    "quantity": pl.Float64,
    "status": pl.String,
    "idempotency_key": pl.String,
    "created": pl.Boolean,
}
HOLDS_INTENDED = "engine_holds_intended_orders"
MATCHES_TARGET = "book_matches_target"


class OrdersConfig(dg.Config):
    publish: bool = Field(default=True, description="Send orders to the Live Engine when it is configured.")


def _allocation_allows_publishing(context: dg.AssetExecutionContext) -> bool:
    """False when the stored allocation was made with ``publish: false`` (its run's config)."""
    event = context.instance.get_latest_materialization_event(dg.AssetKey("portfolio_allocation"))
    if event is None or event.asset_materialization is None:
        return True
    flag = event.asset_materialization.metadata.get("publish")
    return flag is None or bool(flag.value)


@dg.asset(
    group_name="allocation",
    kinds={"polars"},
    owners=["team:trading"],
    code_version="2",
    pool=PUBLISH_POOL,
    automation_condition=dg.AutomationCondition.eager(),
    check_specs=[
        dg.AssetCheckSpec(
            HOLDS_INTENDED,
            asset="live_engine_orders",
            description="The engine holds exactly this allocation's orders and nothing else of ours pending.",
        ),
        dg.AssetCheckSpec(
            MATCHES_TARGET,
            asset="live_engine_orders",
            description="Held plus pending is within the tolerance of every target weight.",
        ),
    ],
    description=(
        "The orders that move the Live Engine book to the stored `portfolio_allocation`, one row per "
        "order of this allocation (new or placed before). Each order is written to our ledger before it "
        "is sent and reconciled against the engine's order list, so publishing the same allocation again "
        "places nothing and a crash never doubles an order; a newer allocation cancels what older ones "
        "left unfilled. Runs one at a time (pool `live_engine`); empty, with the reason, when "
        "LIVE_ENGINE_URL is not set."
    ),
)
def live_engine_orders(
    context: dg.AssetExecutionContext,
    config: OrdersConfig,
    live_engine: LiveEngineResource,
    portfolio_allocation: pl.DataFrame,
) -> Iterator[dg.Output[pl.DataFrame] | dg.AssetCheckResult]:
    from nexus_assets.live_engine.book import publish_to_book

    allocation = table_allocation_id(portfolio_allocation)
    skipped = None
    if not live_engine.enabled:
        skipped = "LIVE_ENGINE_URL is not set"
    elif not config.publish:
        skipped = "publish is off in this run's config"
    elif not _allocation_allows_publishing(context):
        skipped = "the stored allocation was made with publish: false"
    if skipped is not None:
        context.log.info(f"{allocation} not published: {skipped}")
        table = pl.DataFrame(schema=ORDER_SCHEMA)
        yield dg.Output(
            table, metadata=frame_metadata(table, allocation_id=allocation, published=False, reason=skipped)
        )
        for check in (HOLDS_INTENDED, MATCHES_TARGET):
            yield dg.AssetCheckResult(check_name=check, passed=True, metadata={"skipped": skipped})
        return

    weights = dict(zip(portfolio_allocation["symbol"], portfolio_allocation["target_weight"], strict=True))
    prices = dict(zip(portfolio_allocation["symbol"], portfolio_allocation["price"], strict=True))
    with live_engine.client() as client, live_engine.ledger() as ledger:
        report = publish_to_book(
            client,
            ledger,
            weights,
            prices=prices,
            allocation_id=allocation,
            strategy_id=live_engine.strategy_id,
            mode=live_engine.mode,
            capital=live_engine.capital,
            portfolio_id=live_engine.portfolio,
        )
    created = {order.id for order in report.placed}
    table = pl.DataFrame(
        [
            {
                "order_id": order.id,
                "symbol": order.symbol,
                "side": order.side,
                "quantity": order.quantity,
                "status": order.status,
                "idempotency_key": report.client_keys[order.id],
                "created": order.id in created,
            }
            for order in report.orders
        ],
        schema=ORDER_SCHEMA,
    )
    for problem in report.problems:
        context.log.warning(f"{allocation}: {problem}")
    for divergence in report.divergences:
        context.log.warning(f"{allocation} diverges from its target: {divergence.describe()}")
    settled = report.reconciliation
    context.log.info(
        f"published {allocation}: {len(report.placed)} new orders, {len(report.cancelled)} superseded "
        f"orders cancelled, {len(settled.adopted)} unanswered orders found on the engine"
    )
    yield dg.Output(
        table,
        metadata=frame_metadata(
            table,
            allocation_id=allocation,
            published=True,
            live_engine_deployment=report.deployment_id,
            live_engine_portfolio=report.portfolio_id,
            sized_on_equity=report.equity,
            orders_created=len(report.placed),
            orders_already_placed=len(report.orders) - len(report.placed),
            orders_cancelled=len(report.cancelled),
            orders_rejected=len(report.rejected),
            orders_adopted=len(settled.adopted),
            intents_unsent=len(settled.unsent),
            orders_lost=len(settled.lost),
        ),
    )
    yield dg.AssetCheckResult(
        check_name=HOLDS_INTENDED,
        passed=report.exact,
        metadata={"problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in report.problems) or "none")},
    )
    yield dg.AssetCheckResult(
        check_name=MATCHES_TARGET,
        passed=not report.divergences,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "divergent_symbols": len(report.divergences),
            "divergences": dg.MetadataValue.md(
                "\n".join(f"- {d.describe()}" for d in report.divergences) or "none"
            ),
        },
    )
