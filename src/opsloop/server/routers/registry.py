"""REST API of the model registry (placeholder until the router lands)."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["registry"])
