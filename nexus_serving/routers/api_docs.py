"""The OpenAPI document behind the API token, where the docs are not public.

On a public ingress the schema maps every route and field for whoever asks; token holders
(and schema-driven tests) still read it here. The HTML pages are not served in that mode.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from nexus_serving.deps import TokenDep
from nexus_serving.responses import OrjsonResponse

router = APIRouter(include_in_schema=False, dependencies=[TokenDep])


@router.get("/openapi.json")
async def openapi(request: Request) -> OrjsonResponse:
    return OrjsonResponse(request.app.openapi())
