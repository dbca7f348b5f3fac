"""TrOCR through the same loading code as a real checkpoint: a tiny random model.

Random weights read nonsense, so these tests check shapes, batching, ordering and errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from inference.device import Placement
from inference.errors import ModelNotReady
from inference.ocr_server.recognizers.trocr import TrocrRecognizer
from tests.inference.ocr.pages import ESSAY, OTHER_ESSAYS, png_bytes, render_page
from tests.inference.ocr.server import ocr_server
from tests.inference.ocr.tiny_trocr import build_tiny_trocr

pytestmark = pytest.mark.timeout(300)
MAX_NEW_TOKENS = 12


@pytest.fixture(scope="module")
def trocr_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_trocr(tmp_path_factory.mktemp("tiny-trocr"))


@pytest.fixture(scope="module")
def recognizer(trocr_dir: Path) -> TrocrRecognizer:
    return TrocrRecognizer(trocr_dir, Placement("cpu", False), max_new_tokens=MAX_NEW_TOKENS)


def crops() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [
        np.full((30, 200, 3), 255, np.uint8),
        rng.integers(0, 255, (40, 500, 3), dtype=np.uint8),
        np.zeros((20, 90, 3), np.uint8),
        rng.integers(0, 255, (64, 64, 3), dtype=np.uint8),
    ]


def test_one_result_per_crop_in_order(recognizer: TrocrRecognizer) -> None:
    batch = recognizer.recognize(crops())
    alone = [recognizer.recognize([crop])[0] for crop in crops()]
    assert len(batch) == 4
    assert len({round(r.confidence, 6) for r in alone}) > 1, "crops must be told apart"
    for together, single in zip(batch, alone, strict=True):
        assert together.text == single.text
        assert together.confidence == pytest.approx(single.confidence, abs=1e-4)
        assert 0.0 < together.confidence <= 1.0
        assert len(together.text) <= MAX_NEW_TOKENS
    assert recognizer.recognize([]) == []


def test_a_beam_search_checkpoint_reads_every_crop(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    directory = build_tiny_trocr(tmp_path_factory.mktemp("tiny-trocr-beams"), num_beams=4)
    beams = TrocrRecognizer(directory, Placement("cpu", False), max_new_tokens=MAX_NEW_TOKENS)
    batch = beams.recognize(crops())
    alone = [beams.recognize([crop])[0] for crop in crops()]
    assert len(batch) == 4
    for together, single in zip(batch, alone, strict=True):
        assert together.text == single.text
        assert 0.0 < together.confidence <= 1.0
        assert together.confidence == pytest.approx(single.confidence, abs=1e-3)


def test_a_directory_without_a_model_is_not_ready(tmp_path: Path) -> None:
    with pytest.raises(ModelNotReady):
        TrocrRecognizer(tmp_path, Placement("cpu", False))


@pytest.fixture(scope="module")
def server(trocr_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {
        "OCR_RECOGNIZER__ENGINE": "trocr",
        "OCR_RECOGNIZER__TROCR_DIR": str(trocr_dir),
        "OCR_RECOGNIZER__MAX_NEW_TOKENS": str(MAX_NEW_TOKENS),
        "OCR_BATCH__MAX_WAIT_MS": "150",
        "OCR_BATCH__MAX_BATCH_SIZE": "64",
        "OCR_DETECTOR__CANVAS_SIZE": "640",
    }
    with ocr_server(env, tmp_path_factory.mktemp("trocr-server") / "server.log") as base:
        yield base


async def test_server_batches_lines_of_concurrent_pages(server: str) -> None:
    pages = [render_page(text) for text in (ESSAY, *OTHER_ESSAYS[:2])]
    async with httpx.AsyncClient(base_url=server, timeout=120) as client:
        models = (await client.get("/v1/models")).json()
        assert models["data"][1]["id"].startswith("trocr:")
        responses = await asyncio.gather(
            *(client.post("/v1/ocr", files={"file": ("p.png", png_bytes(p.image))}) for p in pages)
        )
        stats = (await client.get("/v1/models")).json()["batching"]["recognize"]
        bad = await client.post("/v1/ocr", files={"file": ("x.png", b"not an image")})
        again = await client.post("/v1/ocr", files={"file": ("p.png", png_bytes(pages[0].image))})
    for response, page in zip(responses, pages, strict=True):
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["lines"]) == len(page.lines)
        tops = [line["box"][1] for line in body["lines"]]
        assert tops == sorted(tops)
        assert [line["indented"] for line in body["lines"]] == [r.indented for r in page.lines]
        assert body["text"].count("\n") == len(page.lines) - 1
    assert stats["items"] == sum(len(page.lines) for page in pages)
    assert stats["max_batch"] > max(len(page.lines) for page in pages)
    assert bad.status_code == 415
    assert again.status_code == 200
    # Alone or batched with other pages' lines, a page reads the same.
    for alone, batched in zip(again.json()["lines"], responses[0].json()["lines"], strict=True):
        assert (alone["box"], alone["text"]) == (batched["box"], batched["text"])
        assert alone["confidence"] == pytest.approx(batched["confidence"], abs=1e-4)
