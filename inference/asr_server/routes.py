"""HTTP layer only: the OpenAI audio API and the model list. No torch here."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import PlainTextResponse, Response

from inference.asr_server.protocol import (
    ModelCard,
    ModelList,
    ResponseFormat,
    Transcription,
    join_text,
    to_srt,
    to_vtt,
    verbose,
)
from inference.asr_server.serving import TranscriptionRequest, TranscriptionService
from inference.asr_server.settings import AsrSettings
from inference.errors import InvalidRequest, ModelNotReady
from inference.http import ERROR_RESPONSES, read_upload, until_disconnect

_STARTED = int(time.time())


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

router = APIRouter(prefix="/v1", tags=["audio"])


@router.post(
    "/audio/transcriptions",
    response_model=Transcription,
    responses={**ERROR_RESPONSES, 200: {"content": {"text/plain": {}}}},
)
async def create_transcription(
    request: Request,
    service: ServiceDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="mp3, wav, m4a, ogg, flac or webm audio")],
    model: Annotated[str, Form()] = "whisper-1",
    language: Annotated[str | None, Form()] = None,
    prompt: Annotated[str | None, Form()] = None,
    response_format: Annotated[ResponseFormat, Form()] = "json",
    temperature: Annotated[float, Form(ge=0.0, le=1.0)] = 0.0,
    timestamp_granularities: Annotated[
        list[str] | None, Form(alias="timestamp_granularities[]")
    ] = None,
) -> Response:
    # `model` is accepted for OpenAI compatibility; the server runs the one it loaded.
    del model
    if set(timestamp_granularities or []) - {"segment"}:
        raise InvalidRequest("only segment timestamps are supported")
    data = await read_upload(file, settings.max_upload_bytes)
    job = TranscriptionRequest(data, language=language, prompt=prompt, temperature=temperature)
    result = await until_disconnect(request, service.transcribe(job))
    if response_format == "text":
        return PlainTextResponse(join_text(result.segments) + "\n")
    if response_format == "srt":
        return PlainTextResponse(to_srt(result.segments))
    if response_format == "vtt":
        return PlainTextResponse(to_vtt(result.segments), media_type="text/vtt")
    if response_format == "verbose_json":
        body = verbose(result.segments, result.language, result.duration, temperature)
        return Response(body.model_dump_json(), media_type="application/json")
    body_json = Transcription(text=join_text(result.segments)).model_dump_json()
    return Response(body_json, media_type="application/json")


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
    )
    return ModelList(data=[card])
