"""The shared HTTP layer on a real uvicorn server: auth, error bodies and request metrics."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import Depends, FastAPI, Form, Request, UploadFile
from pydantic import SecretStr, ValidationError

from inference.http import (
    bearer_guard,
    health_router,
    install_error_handlers,
    limit_body,
    read_upload,
    until_disconnect,
)
from inference.settings import ServiceSettings
from tests.support.services import free_port

TOKEN = "s3cret-token-for-tests"
LIMIT = 100_000
CANCELLED: list[float] = []


def build_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app, "httptest")
    app.include_router(health_router(lambda: True))
    guard = [Depends(bearer_guard(SecretStr(TOKEN)))]

    @app.post("/echo", dependencies=guard)
    async def echo(text: str = Form(...)) -> dict[str, str]:
        return {"text": text}

    @app.post("/upload")
    async def upload(file: UploadFile) -> dict[str, int]:
        return {"size": len(await read_upload(file, LIMIT))}

    @app.get("/slow")
    async def slow(request: Request) -> dict[str, str]:
        async def work() -> str:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                CANCELLED.append(time.monotonic())
                raise
            return "done"

        return {"answer": await until_disconnect(request, work(), poll_s=0.1)}

    @app.get("/boom", dependencies=guard)
    async def boom() -> None:
        raise RuntimeError("a bug")

    limit_body(app, LIMIT)
    return app


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(build_app(), host="127.0.0.1", port=port, log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not running.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(10)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def count(server: str, route: str, status: int) -> float:
    """``http_requests_total`` for one route and status, read from ``/metrics``."""
    wanted = f'http_requests_total{{route="{route}",service="httptest",status="{status}"}}'
    for line in httpx.get(f"{server}/metrics").text.splitlines():
        if line.startswith(wanted):
            return float(line.split()[-1])
    return 0.0


@pytest.mark.parametrize(
    "header",
    [
        {},
        auth("wrong"),
        {"Authorization": "Bearer"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": "Bearer s3cret-töken".encode()},  # raw UTF-8 bytes on the wire
    ],
    ids=["none", "wrong", "empty", "basic", "non-ascii"],
)
def test_bad_credentials_are_401_in_the_shared_body(
    server: str, header: dict[str, str | bytes]
) -> None:
    response = httpx.post(f"{server}/echo", data={"text": "hi"}, headers=header)
    assert response.status_code == 401
    assert response.json() == {
        "error": {"message": "missing or invalid bearer token", "type": "unauthorized"}
    }


def test_the_right_token_passes(server: str) -> None:
    response = httpx.post(f"{server}/echo", data={"text": "hi"}, headers=auth(TOKEN))
    assert response.status_code == 200
    assert response.json() == {"text": "hi"}


def test_missing_form_field_is_422_in_the_shared_body(server: str) -> None:
    response = httpx.post(f"{server}/echo", data={}, headers=auth(TOKEN))
    assert response.status_code == 422
    assert response.json()["error"]["type"] == "invalid_request"
    assert "text" in response.json()["error"]["message"]


def test_unknown_route_is_404_in_the_shared_body(server: str) -> None:
    response = httpx.get(f"{server}/nowhere")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "http_error"


def test_a_bug_is_a_bare_500_and_still_counted(server: str) -> None:
    before = count(server, "/boom", 500)
    response = httpx.get(f"{server}/boom", headers=auth(TOKEN))
    assert response.status_code == 500
    assert response.json() == {"error": {"message": "internal error", "type": "internal_error"}}
    assert "a bug" not in response.text
    assert count(server, "/boom", 500) == before + 1


def test_a_blank_token_is_refused_at_startup() -> None:
    with pytest.raises(ValidationError, match="blank"):
        ServiceSettings(auth_token=SecretStr("  "))
    assert ServiceSettings(auth_token=None).auth_token is None


def test_an_upload_within_the_limit_is_read(server: str) -> None:
    response = httpx.post(f"{server}/upload", files={"file": ("a.bin", b"x" * LIMIT)})
    assert response.status_code == 200
    assert response.json() == {"size": LIMIT}


def test_a_declared_oversize_body_is_413_before_it_is_read(server: str) -> None:
    big = b"x" * (LIMIT * 5)
    response = httpx.post(f"{server}/upload", files={"file": ("big.bin", big)})
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "media_too_large"


def test_a_streamed_oversize_body_is_413_while_it_streams(server: str) -> None:
    sent = [0]

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer encoding
        yield b"--b\r\nContent-Disposition: form-data; name=file; filename=big.bin\r\n\r\n"
        for _ in range(400):
            sent[0] += 64 * 1024
            yield b"x" * (64 * 1024)
        yield b"\r\n--b--\r\n"

    headers = {"Content-Type": "multipart/form-data; boundary=b"}
    try:
        response = httpx.post(f"{server}/upload", content=chunks(), headers=headers)
    except httpx.TransportError:  # the server may answer and close before the client is done
        pass
    else:
        assert response.status_code == 413
        assert response.json()["error"]["type"] == "media_too_large"
    assert httpx.get(f"{server}/healthz").status_code == 200


def test_work_of_a_client_that_went_away_is_cancelled(server: str) -> None:
    gone = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{server}/slow", timeout=0.5)  # the client gives up and closes
    for _ in range(100):
        if CANCELLED:
            break
        time.sleep(0.05)
    assert CANCELLED, "the handler kept working for a client that had gone"
    assert CANCELLED[0] - gone < 3.0  # long before the 10 s the work would have taken
