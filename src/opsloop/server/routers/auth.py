"""REST API of users, tokens and the audit log (placeholder until the router lands)."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["auth"])
