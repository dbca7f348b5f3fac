"""The chat handler: request validation, the batcher in front of the engine, usage."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from prometheus_client import Counter

from inference.batcher import DynamicBatcher
from inference.errors import InvalidRequest, ModelNotReady
from inference.llm_server.engine import ChatEngine, Generation, GenerationJob, Turn
from inference.llm_server.protocol import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionRequest,
    Choice,
    ModelCard,
    ModelList,
    Usage,
)
from inference.llm_server.settings import LlmSettings

log = logging.getLogger(__name__)

TOKENS = Counter("llm_tokens_total", "Tokens processed by the chat endpoint", ["kind"])
FINISHES = Counter("llm_finish_total", "Chat completions by finish reason", ["reason"])


class ChatService:
    """Holds the engine (once loaded) and its batcher."""

    def __init__(self, settings: LlmSettings) -> None:
        self._settings = settings
        self._engine: ChatEngine | None = None
        self._batcher: DynamicBatcher[GenerationJob, Generation] | None = None
        self._loaded_at = int(time.time())

    @property
    def ready(self) -> bool:
        return self._batcher is not None

    async def attach(self, engine: ChatEngine, model_thread: ThreadPoolExecutor) -> None:
        """Serve ``engine``; every generation runs on ``model_thread``, where it loaded."""
        batch = self._settings.batch
        batcher: DynamicBatcher[GenerationJob, Generation] = DynamicBatcher(
            "llm",
            engine.generate,
            max_batch_size=batch.max_batch_size,
            max_wait_ms=batch.max_wait_ms,
            max_queue=batch.max_queue,
            executor=model_thread,
        )
        await batcher.start()
        self._engine, self._batcher = engine, batcher
        self._loaded_at = int(time.time())

    async def close(self) -> None:
        if self._batcher is not None:
            await self._batcher.stop()
            self._batcher = None

    def models(self) -> ModelList:
        card = ModelCard(id=self._settings.served_model_name, created=self._loaded_at)
        batching: dict[str, Any] | None = None
        if self._batcher is not None:
            stats = self._batcher.stats
            batching = {"batches": stats.batches, "items": stats.items, "max": stats.max_batch}
        return ModelList(data=[card], batching=batching)

    async def complete(self, request: ChatCompletionRequest) -> ChatCompletion:
        if self._engine is None or self._batcher is None:
            raise ModelNotReady("the language model is still loading")
        job = self._job_for(request, self._engine)
        generation = await self._batcher.submit(job)
        prompt_tokens = len(job.prompt_ids)
        TOKENS.labels("prompt").inc(prompt_tokens)
        TOKENS.labels("completion").inc(generation.completion_tokens)
        FINISHES.labels(generation.finish_reason).inc()
        return ChatCompletion(
            model=self._settings.served_model_name,
            choices=[
                Choice(
                    index=0,
                    message=AssistantMessage(content=generation.text),
                    finish_reason=generation.finish_reason,
                )
            ],
            usage=Usage(
                prompt_tokens=prompt_tokens,
                completion_tokens=generation.completion_tokens,
                total_tokens=prompt_tokens + generation.completion_tokens,
            ),
        )

    def _job_for(self, request: ChatCompletionRequest, engine: ChatEngine) -> GenerationJob:
        if request.stream:
            raise InvalidRequest("streaming is not supported by this server; use stream=false")
        if request.n != 1:
            raise InvalidRequest("only n=1 is supported")
        if any(m.has_non_text_parts() for m in request.messages):
            raise InvalidRequest("only text message content is supported")
        settings = self._settings
        prompt_ids = engine.render([Turn(m.role, m.text()) for m in request.messages])
        if len(prompt_ids) > settings.max_prompt_tokens:
            raise InvalidRequest(
                f"the prompt has {len(prompt_ids)} tokens, more than {settings.max_prompt_tokens}"
            )
        asked = request.max_completion_tokens or request.max_tokens or settings.default_max_tokens
        temperature = settings.default_temperature
        if request.temperature is not None:
            temperature = request.temperature
        return GenerationJob(
            prompt_ids=tuple(prompt_ids),
            max_new_tokens=min(asked, settings.max_tokens_cap),
            temperature=temperature,
            top_p=request.top_p if request.top_p is not None else 1.0,
            stop=request.stop_sequences(),
            seed=request.seed,
        )
