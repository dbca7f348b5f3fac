"""HTTP layer only: the OpenAI audio API (transcriptions, translations) and the model list."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import PlainTextResponse, Response, StreamingResponse

from inference.asr_server.engines.base import Task
from inference.asr_server.protocol import (
    KEEPALIVE,
    TIMED_FORMATS,
    ModelCard,
    ModelList,
    ResponseFormat,
    TextDelta,
    TextDone,
    Transcription,
    join_text,
    sse,
    to_srt,
    to_vtt,
    verbose,
)
from inference.asr_server.serving import (
    TranscriptionJob,
    TranscriptionRequest,
    TranscriptionService,
)
from inference.asr_server.settings import AsrSettings
from inference.errors import InferenceError, InvalidRequest, ModelNotReady
from inference.http import ERROR_RESPONSES, ErrorBody, ErrorDetail, until_disconnect

log = logging.getLogger(__name__)

_STARTED = int(time.time())
_STREAM_DOC = {"text/event-stream": {"description": "with stream=true: transcript.text events"}}


def get_service(request: Request) -> TranscriptionService:
    service: TranscriptionService | None = request.app.state.service
    if service is None:
        raise ModelNotReady("the speech model is not loaded yet")
    return service


def get_settings(request: Request) -> AsrSettings:
    settings: AsrSettings = request.app.state.settings
    return settings


ServiceDep = Annotated[TranscriptionService, Depends(get_service)]
SettingsDep = Annotated[AsrSettings, Depends(get_settings)]
AudioFile = Annotated[UploadFile, File(description="mp3, wav, m4a, ogg, flac or webm audio")]
Temperature = Annotated[float, Form(ge=0.0, le=1.0)]

router = APIRouter(prefix="/v1", tags=["audio"])


@router.post(
    "/audio/transcriptions",
    response_model=Transcription,
    responses={**ERROR_RESPONSES, 200: {"content": {"text/plain": {}, **_STREAM_DOC}}},
)
async def create_transcription(
    request: Request,
    service: ServiceDep,
    settings: SettingsDep,
    file: AudioFile,
    model: Annotated[str, Form()] = "whisper-1",
    language: Annotated[str | None, Form()] = None,
    prompt: Annotated[str | None, Form()] = None,
    response_format: Annotated[ResponseFormat, Form()] = "json",
    temperature: Temperature = 0.0,
    timestamp_granularities: Annotated[
        list[str] | None, Form(alias="timestamp_granularities[]")
    ] = None,
    stream: Annotated[bool, Form()] = False,
) -> Response:
    # `model` is accepted for OpenAI compatibility; the server runs the one it loaded.
    del model
    granularities = set(timestamp_granularities or [])
    if granularities - {"segment", "word"}:
        raise InvalidRequest("timestamp_granularities[] takes segment and word")
    words = "word" in granularities
    if words and response_format != "verbose_json":
        raise InvalidRequest("word timestamps need response_format=verbose_json")
    return await _answer(
        request,
        service,
        settings,
        file,
        language=language,
        prompt=prompt,
        response_format=response_format,
        temperature=temperature,
        words=words,
        stream=stream,
        task="transcribe",
    )


@router.post(
    "/audio/translations",
    response_model=Transcription,
    responses={**ERROR_RESPONSES, 200: {"content": {"text/plain": {}}}},
)
async def create_translation(
    request: Request,
    service: ServiceDep,
    settings: SettingsDep,
    file: AudioFile,
    model: Annotated[str, Form()] = "whisper-1",
    prompt: Annotated[str | None, Form()] = None,
    response_format: Annotated[ResponseFormat, Form()] = "json",
    temperature: Temperature = 0.0,
) -> Response:
    """Speech in any language to English text. An English-only model transcribes."""
    del model
    return await _answer(
        request,
        service,
        settings,
        file,
        language=None,
        prompt=prompt,
        response_format=response_format,
        temperature=temperature,
        words=False,
        stream=False,
        task="translate",
    )


async def _answer(
    request: Request,
    service: TranscriptionService,
    settings: AsrSettings,
    file: UploadFile,
    *,
    language: str | None,
    prompt: str | None,
    response_format: ResponseFormat,
    temperature: float,
    words: bool,
    stream: bool,
    task: Task,
) -> Response:
    if stream and response_format not in ("json", "text"):
        raise InvalidRequest("stream=true returns text events: use response_format json or text")
    # The upload stays where Starlette spooled it (on disk past 1 MB); the service reads
    # it block by block, and the file lives until the response, streamed or not, is sent.
    job_request = TranscriptionRequest(
        file.file,
        language=language,
        prompt=prompt,
        temperature=temperature,
        timestamps=response_format in TIMED_FORMATS,
        words=words,
        task=task,
    )
    if stream:
        # Refusals (bad media, full queue) still get their status code: the stream
        # starts only once the audio is decoded and its windows are planned.
        job = await until_disconnect(request, service.prepare(job_request))
        return StreamingResponse(
            with_keepalive(_events(service, job), settings.stream_keepalive_s),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    result = await until_disconnect(request, service.transcribe(job_request))
    if response_format == "text":
        return PlainTextResponse(join_text(result.segments) + "\n")
    if response_format == "srt":
        return PlainTextResponse(to_srt(result.segments))
    if response_format == "vtt":
        return PlainTextResponse(to_vtt(result.segments), media_type="text/vtt")
    if response_format == "verbose_json":
        body = verbose(
            result.segments, result.language, result.duration, temperature, words=words, task=task
        )
        return Response(body.model_dump_json(), media_type="application/json")
    body_json = Transcription(text=join_text(result.segments)).model_dump_json()
    return Response(body_json, media_type="application/json")


async def _events(
    service: TranscriptionService, job: TranscriptionJob
) -> AsyncGenerator[bytes, None]:
    """One delta per finished window, in order, then done. A failure after the first
    byte cannot change the status: it ends the stream with an ``error`` event instead of
    ``transcript.text.done``, in the error body shape (the OpenAI client raises on it)."""
    parts: list[str] = []
    try:
        async for window in service.windows(job):
            # A window without speech still reports progress, with an empty delta.
            text = join_text(window.segments)
            delta = f" {text}" if parts and text else text
            if delta:
                parts.append(delta)
            done_s = round(window.done_s, 3)
            yield sse(TextDelta(delta=delta, done_s=done_s, total_s=round(job.total_s, 3)))
        yield sse(TextDone(text="".join(parts)))
    except InferenceError as exc:
        yield sse(ErrorBody(error=ErrorDetail(message=exc.message, type=exc.code)), "error")
    except Exception:
        log.exception("transcription stream failed")
        yield sse(
            ErrorBody(error=ErrorDetail(message="internal error", type="internal_error")), "error"
        )


async def with_keepalive(
    events: AsyncGenerator[bytes, None], every_s: float
) -> AsyncIterator[bytes]:
    """``events``, with a keepalive comment whenever none came for ``every_s`` seconds."""
    pending: asyncio.Future[bytes] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(events))
            done, _ = await asyncio.wait({pending}, timeout=every_s)
            if not done:
                yield KEEPALIVE
                continue
            try:
                event = pending.result()
            except StopAsyncIteration:
                return
            pending = None
            yield event
    finally:
        if pending is not None:
            pending.cancel()
            await asyncio.wait({pending})  # let the cancellation land before closing
        await events.aclose()


@router.get("/models", response_model=ModelList)
async def list_models(service: ServiceDep, settings: SettingsDep) -> ModelList:
    stats = service.batcher.stats
    card = ModelCard(
        id=settings.model_name,
        created=_STARTED,
        owned_by="study-savvy",
        engine=service.engine.name,
        batches=stats.batches,
        windows=stats.items,
        max_batch=stats.max_batch,
        choices=getattr(service.engine, "choices", {}),
    )
    return ModelList(data=[card])
