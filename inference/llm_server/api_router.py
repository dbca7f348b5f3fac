"""HTTP routes of the chat server: thin, they hand the request to :class:`ChatService`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from inference.http import ERROR_RESPONSES
from inference.llm_server.protocol import ChatCompletion, ChatCompletionRequest, ModelList
from inference.llm_server.serving import ChatService


def get_service(request: Request) -> ChatService:
    service: ChatService = request.app.state.chat
    return service


ServiceDep = Annotated[ChatService, Depends(get_service)]

router = APIRouter(prefix="/v1", tags=["chat"])


@router.post("/chat/completions", responses=ERROR_RESPONSES)
async def create_chat_completion(
    body: ChatCompletionRequest, service: ServiceDep
) -> ChatCompletion:
    return await service.complete(body)


@router.get("/models")
async def list_models(service: ServiceDep) -> ModelList:
    return service.models()
