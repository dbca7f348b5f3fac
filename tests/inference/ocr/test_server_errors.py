"""Bad input gets its status from the shared error table, and the server keeps serving."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import jiwer
import pytest
from PIL import Image

from tests.inference.ocr.pages import png_bytes, render_page
from tests.inference.ocr.server import ocr_server
from tests.inference.test_images import bilevel_bomb

pytestmark = pytest.mark.timeout(300)

MAX_BYTES = 2_000_000
MAX_PIXELS = 3_000_000
TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log_path = tmp_path_factory.mktemp("ocr-errors") / "server.log"
    env = {
        "OCR_MAX_BYTES": str(MAX_BYTES),
        "OCR_MAX_PIXELS": str(MAX_PIXELS),
        "OCR_AUTH_TOKEN": TOKEN,
    }
    with ocr_server(env, log_path) as base:
        yield base


def post(base: str, data: bytes, token: str | None = TOKEN) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{base}/v1/ocr", files={"file": ("x", data)}, headers=headers, timeout=60)


def truncated_png() -> bytes:
    data = png_bytes(Image.effect_noise((400, 300), 60).convert("RGB"))
    return data[: len(data) // 2]


def many_pixels_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (2_000, 2_000), 255).save(buffer, format="PNG")  # 4 MP, a few KB
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("make", "status", "kind"),
    [
        (lambda: b"just some text, not a picture", 415, "unsupported_media"),
        (lambda: b"%PDF-1.7 fake", 415, "unsupported_media"),
        (truncated_png, 400, "corrupt_media"),
        (lambda: b"", 400, "corrupt_media"),
        (lambda: bilevel_bomb(30_000, 30_000), 413, "media_too_large"),
        (many_pixels_png, 413, "media_too_large"),
        (lambda: b"\x89PNG" + b"\x00" * (MAX_BYTES + 10), 413, "media_too_large"),
    ],
    ids=["text", "pdf", "truncated", "empty", "bomb", "too-many-pixels", "too-many-bytes"],
)
def test_bad_input_gets_its_status(server: str, make: object, status: int, kind: str) -> None:
    assert callable(make)
    response = post(server, make())
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == kind
    assert "Traceback" not in error["message"]
    assert "/" not in error["message"]


def test_missing_file_field_is_422(server: str) -> None:
    response = httpx.post(
        f"{server}/v1/ocr", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )
    assert response.status_code == 422


def test_bearer_token_is_required_but_not_for_health(server: str) -> None:
    assert post(server, b"anything", token=None).status_code == 401
    assert post(server, b"anything", token="wrong").status_code == 401
    assert httpx.get(f"{server}/readyz").status_code == 200


def test_server_still_reads_after_bad_input(server: str) -> None:
    page = render_page("A short line of text.|Another line here.")
    response = post(server, png_bytes(page.image))
    assert response.status_code == 200, response.text
    texts = [line["text"] for line in response.json()["lines"]]
    assert len(texts) == 2
    assert jiwer.cer(["A short line of text.", "Another line here."], texts) < 0.1
