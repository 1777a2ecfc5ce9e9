"""Helpers shared by the routers: the tracking API of the app and fast JSON responses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import Request, Response
from pydantic import BaseModel, Field

from opsloop.tracking.api import LocalTracking

INT64_MAX = 2**63 - 1
Int64 = Annotated[int, Field(ge=-INT64_MAX - 1, le=INT64_MAX)]
"""An integer the metadata store can hold (larger ones are refused with 422, not 500)."""


async def tracking(request: Request) -> LocalTracking:
    # async: a plain function dependency would cost a thread-pool round trip per request.
    t: LocalTracking = request.app.state.tracking
    return t


def json_response(value: BaseModel | Sequence[BaseModel], *, status_code: int = 200) -> Response:
    """Serialize with pydantic directly (NaN and infinities as strings).

    Routes still declare ``response_model`` for the OpenAPI schema; returning a Response
    skips FastAPI's slower generic encoder.
    """
    if isinstance(value, BaseModel):
        body = value.model_dump_json(by_alias=True)
    else:
        body = "[" + ",".join(v.model_dump_json(by_alias=True) for v in value) + "]"
    return Response(body, status_code=status_code, media_type="application/json")
