"""A server whose model cannot load stays up: alive, not ready, 503 on work; auth on top."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.inference.asr.conftest import asr_server

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("not-ready")
    with asr_server(
        folder,
        ready=False,
        ASR_ENGINE="openai-whisper",
        ASR_MODEL_PATH=str(folder / "missing.pt"),
        ASR_AUTH_TOKEN=TOKEN,
    ) as base:
        yield base


def test_alive_but_not_ready(server: str) -> None:
    assert httpx.get(f"{server}/healthz").status_code == 200
    ready = httpx.get(f"{server}/readyz")
    assert ready.status_code == 503
    assert ready.json()["error"]["type"] == "model_not_ready"


def test_metrics_need_no_token(server: str) -> None:
    assert httpx.get(f"{server}/metrics").status_code == 200


def test_missing_or_wrong_token_is_401(server: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        response = httpx.post(
            f"{server}/v1/audio/transcriptions",
            files={"file": ("a.wav", b"x")},
            headers=headers,
        )
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "unauthorized"
    assert httpx.get(f"{server}/v1/models").status_code == 401


def test_with_token_work_is_503_until_ready(server: str) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    response = httpx.post(
        f"{server}/v1/audio/transcriptions", files={"file": ("a.wav", b"x")}, headers=headers
    )
    assert response.status_code == 503
    assert response.json()["error"]["type"] == "model_not_ready"
    assert TOKEN not in response.text
