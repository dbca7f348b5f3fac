"""The embedded default end to end: real CRAFT + CRNN weights behind the running server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import jiwer
import pytest
from PIL import Image

from tests.inference.ocr.pages import (
    ESSAY,
    OTHER_ESSAYS,
    Page,
    exif_rotated_jpeg,
    png_bytes,
    render_page,
    rotated,
)
from tests.inference.ocr.server import ocr_server

pytestmark = pytest.mark.timeout(300)

# Measured on these pages: about 0.015 straight and 0.02 rotated; the bound leaves room
# for CPU kernels that round differently, not for a broken pipeline (a wrong character
# order or lost lines gives > 0.3).
MAX_CER = 0.06


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log_path = tmp_path_factory.mktemp("ocr") / "server.log"
    # A generous wait lets line crops of concurrent pages meet in one batch.
    env = {
        "OCR_BATCH__MAX_WAIT_MS": "150",
        "OCR_BATCH__MAX_BATCH_SIZE": "64",
        "OCR_DETECTOR__BATCH__MAX_WAIT_MS": "100",
    }
    with ocr_server(env, log_path) as base:
        yield base


@pytest.fixture(scope="module")
def page() -> Page:
    return render_page(ESSAY)


def post(base: str, data: bytes, name: str = "page.png") -> httpx.Response:
    return httpx.post(f"{base}/v1/ocr", files={"file": (name, data)}, timeout=120)


def normalized(text: str) -> str:
    return " ".join(text.split())


def assert_reads(page: Page, body: dict[str, object]) -> None:
    lines = body["lines"]
    assert isinstance(lines, list)
    assert len(lines) == len(page.lines)
    # Reading order: the n-th line read is closest to the n-th line written.
    for position, (got, want) in enumerate(zip(lines, page.lines, strict=True)):
        distances = [jiwer.cer(line.text, got["text"]) for line in page.lines]
        assert distances.index(min(distances)) == position, (got["text"], want.text)
        assert got["indented"] == want.indented, (got["text"], want.indented)
        assert 0.0 <= got["confidence"] <= 1.0
    assert isinstance(body["text"], str)
    assert jiwer.cer(normalized(page.text), normalized(body["text"])) < MAX_CER


def test_reads_an_essay_page(server: str, page: Page) -> None:
    response = post(server, png_bytes(page.image))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["width"], body["height"]) == page.image.size
    assert_reads(page, body)
    # An indented line opens a paragraph in the text as well.
    paragraphs = [line for line in body["text"].split("\n") if line.startswith("    ")]
    assert len(paragraphs) == sum(line.indented for line in page.lines)
    for got, want in zip(body["lines"], page.lines, strict=True):
        x0, y0, x1, y1 = got["box"]
        wx0, wy0, wx1, wy1 = want.box
        assert x0 <= wx0 + 5
        assert y0 <= wy0 + 5
        assert x1 >= wx1 - 15
        assert y1 >= wy1 - 5


@pytest.mark.parametrize("degrees", [2.5, -3.0])
def test_reads_a_slightly_rotated_page(server: str, page: Page, degrees: float) -> None:
    response = post(server, png_bytes(rotated(page.image, degrees)))
    assert response.status_code == 200, response.text
    assert_reads(page, response.json())


def test_reads_an_exif_rotated_photo(server: str, page: Page) -> None:
    response = post(server, exif_rotated_jpeg(page.image), "photo.jpg")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["width"], body["height"]) == page.image.size  # upright, not as stored
    assert_reads(page, body)


async def test_concurrent_pages_share_batches_and_keep_their_text(server: str) -> None:
    pages = [render_page(text) for text in OTHER_ESSAYS[:3]] + [render_page(ESSAY)]
    async with httpx.AsyncClient(base_url=server, timeout=180) as client:
        before = (await client.get("/v1/models")).json()["batching"]
        responses = await asyncio.gather(
            *(client.post("/v1/ocr", files={"file": ("p.png", png_bytes(p.image))}) for p in pages)
        )
        after = (await client.get("/v1/models")).json()["batching"]
    for response, page in zip(responses, pages, strict=True):
        assert response.status_code == 200, response.text
        assert jiwer.cer(normalized(page.text), normalized(response.json()["text"])) < MAX_CER
    lines = sum(len(page.lines) for page in pages)
    recognized = {
        key: after["recognize"][key] - before["recognize"][key] for key in after["recognize"]
    }
    assert recognized["items"] == lines
    # Fewer model calls than pages: crops of different requests were recognized together.
    assert recognized["batches"] < len(pages)
    assert after["recognize"]["max_batch"] > max(len(page.lines) for page in pages)
    # Pages that arrive while CRAFT is busy are detected together in the next call.
    assert after["detect"]["batches"] - before["detect"]["batches"] < len(pages)


def test_page_without_text_is_an_empty_result(server: str) -> None:
    blank = Image.new("RGB", (640, 480), (250, 250, 245))
    response = post(server, png_bytes(blank))
    assert response.status_code == 200
    assert response.json() == {"text": "", "lines": [], "width": 640, "height": 480}


def test_models_health_and_metrics(server: str) -> None:
    models = httpx.get(f"{server}/v1/models").json()
    assert [card["role"] for card in models["data"]] == ["detector", "recognizer"]
    assert models["data"][1]["id"] == "crnn_english_g2"
    assert httpx.get(f"{server}/healthz").json() == {"status": "ok"}
    metrics = httpx.get(f"{server}/metrics").text
    assert 'inference_batch_size_count{batcher="ocr_recognize"}' in metrics
    assert "ocr_page_seconds_bucket" in metrics
