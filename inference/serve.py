"""The one way every inference service starts: JSON logs, then uvicorn on its settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import uvicorn
from fastapi import FastAPI

from inference.logs import configure_logging
from inference.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)


def run_service(settings: S, create_app: Callable[[S], FastAPI]) -> None:
    configure_logging(settings.log_level, json_lines=settings.log_json)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
    )
