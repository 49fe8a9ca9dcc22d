"""The ``/api/internal`` routes of the Live Engine stand-in, in the engine's layouts.

Success bodies name their resource (``{"order": ...}``, ``{"portfolios": [...]}``); errors
are ``{"error": "..."}`` whose text starts with the offending field where there is one. A new
order or deployment answers 201; a repeat of one under the same idempotency key answers 200
with the record the first request made. Credentials are checked by the server's middleware,
before the body is read, so a bad key is a 401 whatever the body says.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from nexus_assets.sim.live_engine_records import DeploymentSpec, EngineError, OrderSpec
from nexus_assets.sim.live_engine_world import LiveEngineWorld

API_PREFIX = "/api/internal"
_KEY_LENGTH = 255


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
Text = Annotated[str, Field(min_length=1, max_length=_KEY_LENGTH)]

router = APIRouter(prefix=API_PREFIX)


class OrderBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    symbol: Text
    side: Literal["buy", "sell"]
    type: Literal["market", "limit"]
    quantity: PositiveFinite
    price: PositiveFinite | None = None
    deployment_id: Text = Field(alias="deploymentId")
    idempotency_key: Text = Field(alias="idempotencyKey")


class DeploymentBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    strategy_id: Text = Field(alias="strategyId")
    mode: Literal["paper", "live"]
    capital: PositiveFinite
    idempotency_key: Text = Field(alias="idempotencyKey")


@router.post("/orders")
def place_order(world: WorldDep, body: OrderBody) -> Response:
    if body.type == "limit" and body.price is None:
        raise EngineError(422, "price: a limit order needs a price")
    spec = OrderSpec(
        symbol=body.symbol,
        side=body.side,
        type=body.type,
        quantity=body.quantity,
        price=body.price,
        deployment_id=body.deployment_id,
        idempotency_key=body.idempotency_key,
    )
    order, created = world.place_order(spec)
    return json_response({"order": order}, 201 if created else 200)


@router.get("/orders/{order_id}")
def get_order(world: WorldDep, order_id: str) -> Response:
    return json_response({"order": world.get_order(order_id)})


@router.delete("/orders/{order_id}")
def cancel_order(world: WorldDep, order_id: str) -> Response:
    return json_response({"order": world.cancel_order(order_id)})


@router.get("/portfolios")
def list_portfolios(world: WorldDep) -> Response:
    return json_response({"portfolios": world.portfolios()})


@router.get("/portfolios/{deployment_id}")
def get_portfolio(world: WorldDep, deployment_id: str) -> Response:
    return json_response({"portfolio": world.portfolio(deployment_id)})


@router.post("/deployments")
def create_deployment(world: WorldDep, body: DeploymentBody) -> Response:
    spec = DeploymentSpec(
        strategy_id=body.strategy_id,
        mode=body.mode,
        capital=body.capital,
        idempotency_key=body.idempotency_key,
    )
    deployment, created = world.create_deployment(spec)
    return json_response({"deployment": deployment}, 201 if created else 200)
