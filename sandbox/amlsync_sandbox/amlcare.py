"""AMLCare's partner API, as amlcare-openapi.yaml specifies it (the API routes land next)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from amlsync_sandbox.service import ApiError, ServiceState, create_service_app

SERVICE = "amlcare"


def render_error(error: ApiError) -> dict[str, Any]:
    """AMLCare's error body: `{"error": {code, message, field, ...}}`."""
    return {
        "error": {"code": error.code, "message": error.message, "field": error.field, **error.extra}
    }


def create_app(db_path: Path) -> Flask:
    """The AMLCare app, reading and writing the world in `db_path`."""
    state = ServiceState(SERVICE, db_path, render_error)
    return create_service_app("amlcare", state)
