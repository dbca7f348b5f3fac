"""openai-whisper and transformers engines, from tiny random checkpoints, through the server.

Random weights give nonsense text, so these tests check the path: loading the real file
formats, batching, window order and timestamps, errors, and the Chinese (OpenCC) branch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from inference.asr_server.chinese import ChineseConverter
from tests.inference.asr import checkpoints, media
from tests.inference.asr.conftest import Speech, asr_server


@pytest.fixture(scope="module", params=["openai-whisper", "transformers"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    folder = tmp_path_factory.mktemp(request.param)
    if request.param == "openai-whisper":
        path = checkpoints.openai_whisper_checkpoint(folder / "tiny.pt")
    else:
        path = checkpoints.transformers_whisper_dir(folder / "whisper-tiny")
    with asr_server(
        folder,
        ASR_ENGINE=request.param,
        ASR_MODEL_PATH=str(path),
        ASR_MAX_NEW_TOKENS="8",
        ASR_BEAM_SIZE="1",
        ASR_BATCH__MAX_WAIT_MS="300",
    ) as base:
        yield base


def post(base: str, data: bytes, **form: str) -> httpx.Response:
    return httpx.post(
        f"{base}/v1/audio/transcriptions",
        files={"file": ("a.wav", data)},
        data=form,
        timeout=120.0,
    )


def test_loads_and_reports_its_engine(server: str) -> None:
    card = httpx.get(f"{server}/v1/models").json()["data"][0]
    assert card["engine"] in {"openai-whisper", "transformers"}


def test_short_clip_gives_text(server: str, speech: Speech) -> None:
    response = post(server, speech.short["mp3"].data, language="en")
    assert response.status_code == 200, response.text
    assert isinstance(response.json()["text"], str)


def test_long_clip_is_windowed_in_order(server: str, speech: Speech) -> None:
    before = httpx.get(f"{server}/v1/models").json()["data"][0]["windows"]
    response = post(server, speech.long.data, language="en", response_format="verbose_json")
    assert response.status_code == 200, response.text
    after = httpx.get(f"{server}/v1/models").json()["data"][0]["windows"]
    assert after - before >= 2  # 73 s (about 60 s of speech) packed into windows of 30 s
    body = response.json()
    starts = [s["start"] for s in body["segments"]]
    assert starts == sorted(starts)
    assert all(0 <= s["start"] <= s["end"] <= body["duration"] + 0.01 for s in body["segments"])


async def test_concurrent_requests_share_batches(server: str, speech: Speech) -> None:
    clips = [media.wav_bytes(speech.sentences[i]) for i in range(6)]
    async with httpx.AsyncClient(base_url=server, timeout=120.0) as client:
        before = (await client.get("/v1/models")).json()["data"][0]
        responses = await asyncio.gather(
            *(
                client.post(
                    "/v1/audio/transcriptions",
                    files={"file": ("s.wav", data)},
                    data={"language": "en"},
                )
                for data in clips
            )
        )
        after = (await client.get("/v1/models")).json()["data"][0]
    assert [r.status_code for r in responses] == [200] * len(clips)
    # Random weights babble, which the fallback may decode again: at least one call each.
    windows = after["windows"] - before["windows"]
    assert windows >= len(clips)
    assert after["batches"] - before["batches"] < windows
    assert after["max_batch"] > 1


def test_chinese_output_is_traditional(server: str, speech: Speech) -> None:
    response = post(server, speech.short["wav"].data, language="zh")
    assert response.status_code == 200, response.text
    text = response.json()["text"]
    # Whatever the random model said, nothing is left for OpenCC to convert.
    assert ChineseConverter("s2twp").convert(text) == text


def test_language_detection_without_a_language(server: str, speech: Speech) -> None:
    response = post(server, speech.short["wav"].data, response_format="verbose_json")
    assert response.status_code == 200, response.text
    assert response.json()["language"]


def test_a_prompt_that_spells_a_special_token_is_read_as_text(server: str, speech: Speech) -> None:
    # A random model's babble (and so a window's prompt from the one before) can hold such
    # text; so can a user's prompt. It must not fail the request.
    response = post(server, speech.short["wav"].data, language="en", prompt="<|ha|> Hello.")
    assert response.status_code == 200, response.text
    assert isinstance(response.json()["text"], str)


def test_corrupt_input_is_refused_and_server_lives_on(server: str) -> None:
    response = post(server, b"RIFF\x00\x00\x00\x00WAVEfmt junk junk junk")
    assert response.status_code == 400
    assert httpx.get(f"{server}/readyz").status_code == 200
