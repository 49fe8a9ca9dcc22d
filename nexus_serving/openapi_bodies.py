"""Schemas of request bodies that routes read themselves, added to the app's OpenAPI document.

FastAPI puts a model in ``components/schemas`` only when a route declares it as a parameter.
The decision routes validate their raw body in one pass of pydantic's JSON parser instead
(``parse_json_body``), so their ``openapi_extra`` refers to schemas registered here.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

REF_TEMPLATE = "#/components/schemas/{model}"


def document_bodies(app: FastAPI, *models: type[BaseModel]) -> None:
    """Make ``app.openapi()`` include the validation schemas of ``models`` (and the models they use)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)  # caches the document in app.openapi_schema
            _, bodies = models_json_schema([(m, "validation") for m in models], ref_template=REF_TEMPLATE)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, definition in bodies.get("$defs", {}).items():
                components.setdefault(name, definition)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
