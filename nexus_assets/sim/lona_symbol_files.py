"""Symbol data as a downloadable CSV file, the way Lona hands it out through ``file_url``.

A ``file_url`` points at storage, not at the API: the original backend fetches it with a plain
GET and no Lona credentials, so the stand-in serves it outside ``/api/v1``, without the agent
headers, and guards it the way storage links are guarded, with a signature in the query. The CSV
is written like the original backend's own uploads: ``timestamp,open,high,low,close,volume``
with ``YYYY-MM-DD HH:MM:SS`` UTC times.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

import polars as pl
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response

from nexus_assets.lona.symbol_data import NUMBER_FIELDS
from nexus_assets.lona.wire import as_utc
from nexus_assets.sim.lona_records import WorldError
from nexus_assets.sim.lona_wire_forms import WireSettings
from nexus_assets.sim.lona_world import LonaWorld

ROUTE_NAME = "symbol_file"
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def signature(secret: str, symbol_id: str) -> str:
    return hmac.new(secret.encode(), f"symbol-file:{symbol_id}".encode(), hashlib.sha256).hexdigest()[:32]


def file_url(request: Request, symbol_id: str) -> str:
    """The absolute, signed link to a symbol's CSV on the host the request came to."""
    url = request.url_for(ROUTE_NAME, symbol_id=symbol_id)
    return str(url.include_query_params(signature=signature(request.app.state.token, symbol_id)))


def symbol_csv(bars: pl.DataFrame) -> bytes:
    frame = bars.sort("timestamp")
    stamps = [as_utc(t).strftime(_TIME_FORMAT) for t in frame["timestamp"]]
    return frame.select(pl.Series("timestamp", stamps), *NUMBER_FIELDS).write_csv().encode()


def symbol_file_routes(world: LonaWorld, settings: WireSettings) -> APIRouter:
    routes = APIRouter()

    @routes.get("/files/symbols/{symbol_id}.csv", name=ROUTE_NAME)
    def symbol_file(
        request: Request,
        symbol_id: str,
        signature_: Annotated[str, Query(alias="signature")] = "",
        api_key: Annotated[str | None, Header(alias="X-API-Key")] = None,
    ) -> Response:
        if not hmac.compare_digest(
            signature_.encode(), signature(request.app.state.token, symbol_id).encode()
        ):
            raise WorldError(403, "forbidden", "signature does not match")
        record, bars = world.symbol_bars(symbol_id, None, None)
        settings.downloaded(with_credentials=api_key is not None)
        broken = settings.current.file_body
        body = broken.encode() if broken is not None else symbol_csv(bars)
        headers = {"Content-Disposition": f'attachment; filename="{record.name}.csv"'}
        return Response(body, media_type="text/csv", headers=headers)

    return routes
