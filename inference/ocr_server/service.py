"""The OCR pipeline of a running server: decode, detect, lay out, recognize, assemble.

Pages from all concurrent requests share one detection batcher, and their line crops
share one recognition batcher, so a model call serves many requests at once. Nothing here
imports FastAPI.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from prometheus_client import Histogram

from inference.batcher import BatcherStats, DynamicBatcher, model_thread
from inference.device import choose_placement
from inference.images import ImageLimits, decode_image
from inference.ocr_server.detectors import PageDetector, create_detector
from inference.ocr_server.detectors.postprocess import FloatArray
from inference.ocr_server.layout import lay_out_lines
from inference.ocr_server.recognizers import LineRecognizer, Recognition, create_recognizer
from inference.ocr_server.settings import OcrSettings

log = logging.getLogger(__name__)

PAGE_LINES = Histogram(
    "ocr_page_lines", "Text lines found per page", buckets=(0, 1, 5, 10, 20, 40, 80, 160)
)
PAGE_SECONDS = Histogram(
    "ocr_page_seconds",
    "Time to read one page, by stage",
    ["stage"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)

Page = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class ReadLine:
    box: tuple[int, int, int, int]
    text: str
    confidence: float
    indented: bool


@dataclass(frozen=True)
class ReadPage:
    width: int
    height: int
    lines: list[ReadLine] = field(default_factory=list)

    @property
    def text(self) -> str:
        """Lines joined by newlines; an indented line (a new paragraph) starts with 4 spaces."""
        return "\n".join(("    " if line.indented else "") + line.text for line in self.lines)


class OcrService:
    """Owns the models and their batchers; ``read`` is safe to call concurrently."""

    def __init__(
        self,
        detector: PageDetector,
        recognizer: LineRecognizer,
        settings: OcrSettings,
        model_thread: ThreadPoolExecutor,
    ) -> None:
        self.detector = detector
        self.recognizer = recognizer
        self.limits = ImageLimits(max_bytes=settings.max_bytes, max_pixels=settings.max_pixels)
        detect_batch = settings.detector.batch
        self._detect: DynamicBatcher[Page, list[FloatArray]] = DynamicBatcher(
            "ocr_detect",
            detector.detect,
            max_batch_size=detect_batch.max_batch_size,
            max_wait_ms=detect_batch.max_wait_ms,
            max_queue=detect_batch.max_queue,
            executor=model_thread,
        )
        self._recognize: DynamicBatcher[Page, Recognition] = DynamicBatcher(
            "ocr_recognize",
            recognizer.recognize,
            max_batch_size=settings.batch.max_batch_size,
            max_wait_ms=settings.batch.max_wait_ms,
            max_queue=settings.batch.max_queue,
            executor=model_thread,
        )
        self._model_thread = model_thread

    @classmethod
    async def load(cls, settings: OcrSettings) -> OcrService:
        """Load both models on the service's model thread, where every batch runs too."""
        thread = model_thread("ocr")
        placement = choose_placement(settings.device)
        loop = asyncio.get_running_loop()
        try:
            detector = await loop.run_in_executor(thread, create_detector, settings, placement)
            recognizer = await loop.run_in_executor(thread, create_recognizer, settings, placement)
        except BaseException:
            thread.shutdown(wait=False)
            raise
        return cls(detector, recognizer, settings, thread)

    async def start(self) -> None:
        await self._detect.start()
        await self._recognize.start()

    async def stop(self) -> None:
        await self._detect.stop()
        await self._recognize.stop()
        self._model_thread.shutdown(wait=True)

    @property
    def batch_stats(self) -> dict[str, BatcherStats]:
        return {"detect": self._detect.stats, "recognize": self._recognize.stats}

    async def read(self, data: bytes) -> ReadPage:
        """The page's lines in reading order; a page without text gives no lines."""
        started = time.perf_counter()
        image = await asyncio.to_thread(decode_image, data, self.limits)
        page: Page = np.asarray(image)
        decoded = time.perf_counter()
        quads = await self._detect.submit(page)
        detected = time.perf_counter()
        layout = await asyncio.to_thread(lay_out_lines, page, quads)
        results = await self._recognize.submit_many([line.crop for line in layout])
        finished = time.perf_counter()
        for stage, seconds in (
            ("decode", decoded - started),
            ("detect", detected - decoded),
            ("recognize", finished - detected),
        ):
            PAGE_SECONDS.labels(stage).observe(seconds)
        PAGE_LINES.observe(len(layout))
        lines = [
            ReadLine(line.box, result.text, result.confidence, line.indented)
            for line, result in zip(layout, results, strict=True)
        ]
        log.info(
            "page read",
            extra={"lines": len(lines), "seconds": round(finished - started, 3)},
        )
        return ReadPage(width=image.width, height=image.height, lines=lines)
