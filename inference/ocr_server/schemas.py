"""Wire schemas of the OCR API (the worker's client reads these fields)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from inference.ocr_server.service import ReadPage


class OcrLine(BaseModel):
    box: tuple[int, int, int, int] = Field(description="x0, y0, x1, y1 in image pixels")
    text: str
    confidence: float = Field(ge=0.0, le=1.0)
    indented: bool = Field(description="the line starts an indented paragraph")


class OcrResponse(BaseModel):
    text: str = Field(description="lines joined by \\n; an indented line starts with 4 spaces")
    lines: list[OcrLine]
    width: int
    height: int

    @classmethod
    def from_page(cls, page: ReadPage) -> OcrResponse:
        return cls(
            text=page.text,
            lines=[
                OcrLine(
                    box=line.box,
                    text=line.text,
                    confidence=min(1.0, max(0.0, line.confidence)),
                    indented=line.indented,
                )
                for line in page.lines
            ],
            width=page.width,
            height=page.height,
        )


class ModelCard(BaseModel):
    id: str
    object: str = "model"
    role: str
    details: dict[str, Any] = {}


class BatchingStats(BaseModel):
    batches: int
    items: int
    max_batch: int


class ModelList(BaseModel):
    object: str = "list"
    data: list[ModelCard]
    batching: dict[str, BatchingStats]
