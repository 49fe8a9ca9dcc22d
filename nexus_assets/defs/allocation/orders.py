"""`live_engine_orders`: the stored allocation, published to the Live Engine once.

Publishing is its own asset so that orders only ever follow an allocation that is already
stored: the orders read `portfolio_allocation` back from its IO manager, name themselves
after the stored table's id (the id `GET /v1/allocations/latest` shows), and a failed
publish is retried from this step alone, against the same stored table, never against a
recomputed one. The `live_engine` pool (limit 1 in dagster.yaml) lets one publish run at a
time across all runs.
"""

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
    code_version="1",
    pool=PUBLISH_POOL,
    automation_condition=dg.AutomationCondition.eager(),
    description=(
        "The orders that move the Live Engine deployment to the stored `portfolio_allocation`, one "
        "row per order (new or already placed). Each order's idempotency key is the allocation id "
        "and the symbol, so publishing the same stored allocation again places nothing. Runs one "
        "at a time (pool `live_engine`); empty, with the reason, when LIVE_ENGINE_URL is not set."
    ),
)
def live_engine_orders(
    context: dg.AssetExecutionContext,
    config: OrdersConfig,
    live_engine: LiveEngineResource,
    portfolio_allocation: pl.DataFrame,
) -> dg.Output[pl.DataFrame]:
    from nexus_assets.live_engine import publish_allocation
    from nexus_assets.live_engine.book import open_deployment

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
        return dg.Output(
            table, metadata=frame_metadata(table, allocation_id=allocation, published=False, reason=skipped)
        )

    weights = dict(zip(portfolio_allocation["symbol"], portfolio_allocation["target_weight"], strict=True))
    prices = dict(zip(portfolio_allocation["symbol"], portfolio_allocation["price"], strict=True))
    with live_engine.client() as client:
        deployment = open_deployment(
            client, live_engine.strategy_id, mode=live_engine.mode, capital=live_engine.capital
        )
        published = publish_allocation(
            client, weights, prices=prices, allocation_id=allocation, deployment_id=deployment.id
        )
    created = {order.id for order in published.created}
    table = pl.DataFrame(
        [
            {
                "order_id": order.id,
                "symbol": order.symbol,
                "side": order.side,
                "quantity": order.quantity,
                "status": order.status,
                "idempotency_key": order.idempotency_key,
                "created": order.id in created,
            }
            for order in published.orders
        ],
        schema=ORDER_SCHEMA,
    )
    for symbol, message in published.conflicts:
        context.log.warning(f"{allocation}: {symbol} not traded again ({message})")
    context.log.info(f"published {allocation}: {len(published.created)} new orders")
    return dg.Output(
        table,
        metadata=frame_metadata(
            table,
            allocation_id=allocation,
            published=True,
            live_engine_deployment=deployment.id,
            orders_created=len(published.created),
            orders_already_placed=len(published.existing),
            key_conflicts=len(published.conflicts),
        ),
    )
