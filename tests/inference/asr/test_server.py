"""The real tiny.en model behind the running server: accuracy, long audio, batching, errors."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.inference.asr import media
from tests.inference.asr.conftest import Speech, asr_server, word_error_rate

MAX_BYTES = 4_000_000
MAX_SECONDS = 100.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with asr_server(
        tmp_path_factory.mktemp("asr-logs"),
        ASR_BATCH__MAX_BATCH_SIZE="8",
        ASR_BATCH__MAX_WAIT_MS="300",
        ASR_MAX_UPLOAD_BYTES=str(MAX_BYTES),
        ASR_MAX_AUDIO_SECONDS=str(MAX_SECONDS),
    ) as base:
        yield base


def transcribe(base: str, data: bytes, name: str, **form: str) -> httpx.Response:
    return httpx.post(
        f"{base}/v1/audio/transcriptions",
        files={"file": (name, data)},
        data=form,
        timeout=120.0,
    )


@pytest.mark.parametrize("ext", ["wav", "mp3", "m4a"])
def test_real_speech_is_transcribed_accurately(server: str, speech: Speech, ext: str) -> None:
    clip = speech.short[ext]
    response = transcribe(server, clip.data, f"lecture.{ext}")
    assert response.status_code == 200, response.text
    assert word_error_rate(clip.text, response.json()["text"]) < 0.35


def test_long_audio_comes_back_complete_and_in_order(server: str, speech: Speech) -> None:
    clip = speech.long
    assert clip.seconds > 60
    response = transcribe(server, clip.data, "long.wav", response_format="verbose_json")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["duration"] == pytest.approx(clip.seconds, abs=0.05)
    starts = [s["start"] for s in body["segments"]]
    assert starts == sorted(starts)
    assert all(s["end"] >= s["start"] for s in body["segments"])
    assert all(a["end"] <= b["start"] + 1e-6 for a, b in itertools.pairwise(body["segments"]))
    assert body["segments"][-1]["end"] > clip.seconds - 10
    # Insertions (a sentence decoded twice at a cut) and deletions (a lost word) both count.
    assert word_error_rate(clip.text, body["text"]) < 0.45


def test_openai_client_works_unchanged(server: str, speech: Speech) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{server}/v1", api_key="unused", max_retries=0)
    clip = speech.short["mp3"]

    def create(response_format: str) -> object:
        return client.audio.transcriptions.create(
            model="whisper-1",
            file=("talk.mp3", clip.data),
            response_format=response_format,  # type: ignore[arg-type]
            language="en",
        )

    as_json = create("json")
    assert word_error_rate(clip.text, as_json.text) < 0.35  # type: ignore[attr-defined]
    as_text = create("text")
    assert isinstance(as_text, str)
    assert word_error_rate(clip.text, as_text) < 0.35
    srt = create("srt")
    assert isinstance(srt, str)
    assert re.match(r"1\n00:00:\d\d,\d{3} --> 00:00:\d\d,\d{3}\n\S", srt)
    vtt = create("vtt")
    assert isinstance(vtt, str)
    assert vtt.startswith("WEBVTT\n\n00:00:")
    verbose = client.audio.transcriptions.create(
        model="whisper-1",
        file=("talk.mp3", clip.data),
        response_format="verbose_json",
        timestamp_granularities=["segment"],
    )
    assert verbose.segments
    assert verbose.segments[0].start < verbose.segments[-1].end
    assert client.models.list().data[0].id == "whisper-1"


async def test_concurrent_requests_share_batches(server: str, speech: Speech) -> None:
    picks = [2, 4, 5, 7, 9, 11]
    clips = [media.wav_bytes(speech.sentences[i]) for i in picks]
    async with httpx.AsyncClient(base_url=server, timeout=120.0) as client:
        before = (await client.get("/v1/models")).json()["data"][0]
        responses = await asyncio.gather(
            *(
                client.post("/v1/audio/transcriptions", files={"file": ("s.wav", data)})
                for data in clips
            )
        )
        after = (await client.get("/v1/models")).json()["data"][0]
        metrics = (await client.get("/metrics")).text
    assert all(r.status_code == 200 for r in responses)
    texts = [r.json()["text"] for r in responses]
    for index, text in zip(picks, texts, strict=True):
        # Each caller gets its own sentence back, not a neighbour's from the same batch.
        errors = {i: word_error_rate(media.SENTENCES[i], text) for i in picks}
        assert min(errors, key=errors.__getitem__) == index
        assert errors[index] < 0.5
    windows = after["windows"] - before["windows"]
    batches = after["batches"] - before["batches"]
    assert windows == len(clips)
    assert batches < windows  # the model saw fewer calls than windows
    assert after["max_batch"] > 1
    assert 'inference_batch_size_bucket{batcher="asr",le="1.0"}' in metrics


def _silence_wav(seconds: float) -> bytes:
    return media.wav_bytes(np.zeros(int(seconds * media.RATE), dtype=np.float32))


@pytest.mark.parametrize(
    ("name", "make", "status"),
    [
        ("empty.mp3", lambda s: b"", 400),
        ("notes.mp3", lambda s: b"these are my lecture notes, not audio\n" * 20, 415),
        ("broken.wav", lambda s: s.short["wav"].data[:44] + bytes(range(256)) * 8, 400),
        ("cut.m4a", lambda s: s.short["m4a"].data[: len(s.short["m4a"].data) // 3], 400),
        ("huge.wav", lambda s: _silence_wav(MAX_BYTES / 32_000 + 1), 413),
        ("endless.wav", lambda s: _silence_wav(MAX_SECONDS + 5), 413),
    ],
)
def test_bad_input_gets_its_status_and_the_server_lives_on(
    server: str, speech: Speech, name: str, make: object, status: int
) -> None:
    data = make(speech)  # type: ignore[operator]
    response = transcribe(server, data, name)
    assert response.status_code == status, response.text
    assert set(response.json()["error"]) == {"message", "type"}
    assert "Traceback" not in response.text
    assert httpx.get(f"{server}/readyz").status_code == 200


@pytest.mark.parametrize(
    ("form", "kind"),
    [
        ({"response_format": "mp4"}, "invalid_request"),
        ({"language": "klingon"}, "invalid_request"),
        ({"language": "zh"}, "invalid_request"),  # tiny.en is English-only
        ({"temperature": "3"}, "invalid_request"),
        ({"timestamp_granularities[]": "word"}, "invalid_request"),
    ],
)
def test_invalid_parameters_are_422(
    server: str, speech: Speech, form: dict[str, str], kind: str
) -> None:
    response = transcribe(server, speech.short["wav"].data, "a.wav", **form)
    assert response.status_code == 422
    assert response.json()["error"]["type"] == kind


def test_metrics_cover_requests_audio_batches_and_queue(server: str, speech: Speech) -> None:
    assert transcribe(server, speech.short["wav"].data, "a.wav").status_code == 200
    metrics = httpx.get(f"{server}/metrics").text
    for name in (
        'http_requests_total{route="/v1/audio/transcriptions",service="asr",status="200"}',
        'http_request_duration_seconds_count{route="/v1/audio/transcriptions",service="asr"}',
        "asr_audio_seconds_total",
        'inference_batch_size_count{batcher="asr"}',
        'inference_queue_depth{batcher="asr"}',
    ):
        assert name in metrics
    seconds = float(re.search(r"^asr_audio_seconds_total (\S+)$", metrics, re.M).group(1))  # type: ignore[union-attr]
    assert seconds >= speech.short["wav"].seconds


def test_logs_are_json_lines(server: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    import json

    logs = list(Path(tmp_path_factory.getbasetemp()).glob("asr-logs*/asr-*.log"))
    lines = [line for log in logs for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(json.loads(line)["msg"] == "engine ready" for line in lines)
