"""App factory: one settings object, one engine loaded in the background at startup."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from inference.asr_server import routes
from inference.asr_server.engines import create_engine
from inference.asr_server.serving import TranscriptionService
from inference.asr_server.settings import AsrSettings
from inference.batcher import model_thread
from inference.http import bearer_guard, health_router, install_error_handlers, limit_body

log = logging.getLogger(__name__)


async def _load(app: FastAPI, settings: AsrSettings) -> None:
    """Load the engine off the event loop; /healthz answers meanwhile, /readyz says 503."""
    thread = model_thread("asr")  # loads the engine and runs every batch
    try:
        engine = await asyncio.get_running_loop().run_in_executor(thread, create_engine, settings)
        service = TranscriptionService(engine, settings, thread)
        await service.start()
    except Exception as exc:
        thread.shutdown(wait=False)
        # With its traceback: the operator needs it to fix the model path or weights, and
        # what it can quote (paths, config values) is the operator's own configuration.
        # The service stays up, alive but never ready, so probes restart it.
        log.error("engine failed to load", extra={"engine": settings.engine}, exc_info=exc)
        return
    app.state.service = service
    log.info("engine ready", extra={"engine": settings.engine})


def create_app(settings: AsrSettings | None = None) -> FastAPI:
    settings = settings or AsrSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loading = asyncio.create_task(_load(app, settings), name="asr-engine-load")
        try:
            yield
        finally:
            loading.cancel()
            await asyncio.gather(loading, return_exceptions=True)
            service: TranscriptionService | None = app.state.service
            app.state.service = None
            if service is not None:
                await service.stop()

    app = FastAPI(title="Study-Savvy ASR", version="1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.service = None
    install_error_handlers(app, "asr")
    limit_body(app, settings.max_upload_bytes)
    app.include_router(health_router(lambda: app.state.service is not None))
    app.include_router(routes.router, dependencies=[Depends(bearer_guard(settings.auth_token))])
    return app
