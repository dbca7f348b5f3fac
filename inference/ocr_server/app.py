"""The OCR server's app factory: models load once, in the background, at start-up.

``/healthz`` answers at once; ``/readyz`` and the API answer 503 until both models are
loaded, so an orchestrator does not route traffic to a server still loading weights.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from inference.http import bearer_guard, health_router, install_error_handlers, limit_body
from inference.ocr_server.routes import router
from inference.ocr_server.service import OcrService
from inference.ocr_server.settings import OcrSettings

log = logging.getLogger(__name__)


def create_app(settings: OcrSettings | None = None) -> FastAPI:
    settings = settings or OcrSettings()

    async def load_models(app: FastAPI) -> None:
        try:
            service = await OcrService.load(settings)
        except Exception:
            # The server stays up and unready: the log says why, /readyz says 503.
            log.exception("loading the OCR models failed")
            return
        await service.start()
        app.state.ocr = service
        log.info("ocr ready", extra={"models": [service.detector.name, service.recognizer.name]})

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ocr = None
        loading = asyncio.create_task(load_models(app), name="load-ocr-models")
        try:
            yield
        finally:
            loading.cancel()
            await asyncio.gather(loading, return_exceptions=True)
            if app.state.ocr is not None:
                await app.state.ocr.stop()

    app = FastAPI(title="Study-Savvy OCR", version="1.0", lifespan=lifespan)
    install_error_handlers(app, "ocr")
    limit_body(app, settings.max_bytes)
    app.include_router(health_router(lambda: getattr(app.state, "ocr", None) is not None))
    app.include_router(router, dependencies=[Depends(bearer_guard(settings.auth_token))])
    return app
