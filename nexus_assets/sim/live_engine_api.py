"""The ``/api/internal`` routes of the Live Engine stand-in, in the real engine's layouts.

Success bodies name their resource (``{"order": ...}``) or list it (``{"items": [...]}``);
errors are ``{"error": "..."}``. As the real engine: POST answers 201 with a new record every
time (``idempotencyKey`` is accepted and ignored), a bad body is a 400 (ours names the field),
an unknown id a 404. Credentials are checked by the server's middleware, before the body is
read, so a bad key is a 401 whatever the body says.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from nexus_assets.sim.live_engine_records import DeploymentSpec, EngineError, OrderSpec
from nexus_assets.sim.live_engine_world import LiveEngineWorld

API_PREFIX = "/api/internal"
_TEXT_LENGTH = 255


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json", headers=headers)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"error": message}, status, headers)


def bearer_problem(authorization: str | None, api_key: str) -> str | None:
    """Why ``authorization`` does not carry ``api_key``, or None when it does (constant time)."""
    if not authorization:
        return "missing Authorization header"
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return "Authorization header is not a bearer token"
    if not hmac.compare_digest(token.strip().encode(), api_key.encode()):
        return "invalid API key"
    return None


def get_world(request: Request) -> LiveEngineWorld:
    return request.app.state.world


WorldDep = Annotated[LiveEngineWorld, Depends(get_world)]
PositiveFinite = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Text = Annotated[str, Field(min_length=1, max_length=_TEXT_LENGTH)]

router = APIRouter(prefix=API_PREFIX)


class OrderBody(BaseModel):
    """``PlaceOrderRequest``: unknown members are ignored, as the engine ignores them."""

    model_config = ConfigDict(extra="ignore", strict=True)

    symbol: Text
    side: Literal["buy", "sell"]
    type: Literal["market", "limit"]
    quantity: PositiveFinite
    price: PositiveFinite | None = None
    deployment_id: Text | None = Field(default=None, alias="deploymentId")
    idempotency_key: str | None = Field(default=None, alias="idempotencyKey")


class DeploymentBody(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    strategy_id: Text = Field(alias="strategyId")
    mode: Literal["paper", "live"]
    capital: PositiveFinite
    idempotency_key: str | None = Field(default=None, alias="idempotencyKey")


Status = Annotated[str | None, Query()]


@router.get("/orders")
def list_orders(world: WorldDep, status: Status = None) -> Response:
    return json_response({"items": world.list_orders(status)})


@router.post("/orders")
def place_order(world: WorldDep, body: OrderBody) -> Response:
    if body.type == "limit" and body.price is None:
        raise EngineError(400, "price: Limit order requires price")
    spec = OrderSpec(
        symbol=body.symbol,
        side=body.side,
        type=body.type,
        quantity=body.quantity,
        price=body.price,
        deployment_id=body.deployment_id,
    )
    return json_response({"order": world.place_order(spec)}, 201)


@router.get("/orders/{order_id}")
def get_order(world: WorldDep, order_id: str) -> Response:
    return json_response({"order": world.get_order(order_id)})


@router.delete("/orders/{order_id}")
def cancel_order(world: WorldDep, order_id: str) -> Response:
    return json_response({"order": world.cancel_order(order_id)})


@router.get("/portfolios")
def list_portfolios(world: WorldDep) -> Response:
    return json_response({"items": world.portfolios()})


@router.get("/portfolios/{portfolio_id}")
def get_portfolio(world: WorldDep, portfolio_id: str) -> Response:
    return json_response({"portfolio": world.portfolio(portfolio_id)})


@router.get("/deployments")
def list_deployments(world: WorldDep, status: Status = None) -> Response:
    return json_response({"items": world.deployments(status)})


@router.post("/deployments")
def create_deployment(world: WorldDep, body: DeploymentBody) -> Response:
    spec = DeploymentSpec(strategy_id=body.strategy_id, mode=body.mode, capital=body.capital)
    return json_response({"deployment": world.create_deployment(spec)}, 201)


@router.get("/deployments/{deployment_id}")
def get_deployment(world: WorldDep, deployment_id: str) -> Response:
    return json_response({"deployment": world.deployment(deployment_id)})


@router.post("/deployments/{deployment_id}/stop")
def stop_deployment(world: WorldDep, deployment_id: str) -> Response:
    return json_response({"deployment": world.stop_deployment(deployment_id)})
