"""HTTP routes of the OCR service: thin, the work is in ``service``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Request, UploadFile

from inference.errors import ModelNotReady
from inference.http import ERROR_RESPONSES, read_upload, until_disconnect
from inference.ocr_server.schemas import BatchingStats, ModelCard, ModelList, OcrResponse
from inference.ocr_server.service import OcrService

router = APIRouter(prefix="/v1", tags=["ocr"])


def get_service(request: Request) -> OcrService:
    service: OcrService | None = getattr(request.app.state, "ocr", None)
    if service is None:
        raise ModelNotReady("the OCR models are still loading")
    return service


ServiceDep = Annotated[OcrService, Depends(get_service)]


@router.post("/ocr", response_model=OcrResponse, responses=ERROR_RESPONSES)
async def read_image(
    request: Request,
    service: ServiceDep,
    file: Annotated[UploadFile, File(description="JPEG, PNG or WebP")],
) -> OcrResponse:
    data = await read_upload(file, service.limits.max_bytes)
    return OcrResponse.from_page(await until_disconnect(request, service.read(data)))


@router.get("/models", response_model=ModelList, responses=ERROR_RESPONSES)
async def list_models(service: ServiceDep) -> ModelList:
    cards = []
    for engine in (service.detector, service.recognizer):
        details = engine.describe()
        cards.append(ModelCard(id=str(details["id"]), role=str(details["role"]), details=details))
    batching = {
        name: BatchingStats(batches=s.batches, items=s.items, max_batch=s.max_batch)
        for name, s in service.batch_stats.items()
    }
    return ModelList(data=cards, batching=batching)
