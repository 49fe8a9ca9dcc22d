"""Dependency aliases the routers declare (``XDep = Annotated[T, Depends(...)]``).

``TokenDep`` is the one authentication step of every protected route: routers declare it in
their ``dependencies``, so a route added to a protected router is protected too.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status

from nexus_serving.auth import admin_name, check_bearer, holds_token
from nexus_serving.model_store import ModelBundle
from nexus_serving.services import Services


async def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


async def require_token(
    services: ServicesDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> None:
    """401 without a bearer token, 403 with an unknown one; runs before any body is read."""
    check_bearer(authorization, services.settings.tokens)


TokenDep = Depends(require_token)


async def require_admin(
    services: ServicesDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> str:
    """The admin's name (``NEXUS_ADMIN_TOKENS``), recorded with the change; 401 or 403 otherwise."""
    return admin_name(authorization, services.settings.admins)


AdminDep = Annotated[str, Depends(require_admin)]


async def caller_holds_token(
    services: ServicesDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> bool:
    """On an open route: whether the caller sent an accepted token (no token is no error)."""
    return holds_token(authorization, services.settings.tokens)


TokenHeldDep = Annotated[bool, Depends(caller_holds_token)]


async def get_bundle(services: ServicesDep) -> ModelBundle:
    """The bundle this request uses from start to end (read once; a swap cannot mix versions)."""
    bundle = services.store.current
    if bundle is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"models not loaded: {services.store.reason}"
        )
    return bundle


BundleDep = Annotated[ModelBundle, Depends(get_bundle)]
