"""Natural speech through the running server with its shipped settings: a Piper lecture of
over 5 minutes, word error bounds, no dropped window, and the rest of the OpenAI audio API
(stream, word timestamps, translations) through the official client."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

import httpx
import pytest

from tests.inference.asr.conftest import asr_server, longest_deleted_run, word_error_rate
from tests.inference.asr.tts import Lecture

# tiny.en reads the Piper voice at about 0.03 (bench/results/asr.json); the bound leaves
# room for other voices' noise, and a lost window (60+ words of 1000) breaks it alone.
MAX_WER = 0.07
# A misheard word or two may be missing; a tail or a window dropped is a run of many.
MAX_DELETED_RUN = 5


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with asr_server(tmp_path_factory.mktemp("asr-piper")) as base:
        yield base


def post(base: str, lecture: Lecture, path: str = "transcriptions", **form: str) -> httpx.Response:
    return httpx.post(
        f"{base}/v1/audio/{path}",
        files={"file": ("lecture.wav", lecture.wav)},
        data=form,
        timeout=600.0,
    )


def test_a_five_minute_lecture_loses_no_words(server: str, piper_lecture: Lecture) -> None:
    assert piper_lecture.seconds >= 300
    response = post(server, piper_lecture)
    assert response.status_code == 200, response.text
    text = response.json()["text"]
    assert word_error_rate(piper_lecture.text, text) < MAX_WER
    assert longest_deleted_run(piper_lecture.text, text) <= MAX_DELETED_RUN


def test_timestamped_lecture_keeps_every_window(server: str, piper_lecture: Lecture) -> None:
    response = post(server, piper_lecture, response_format="verbose_json")
    assert response.status_code == 200, response.text
    body = response.json()
    assert word_error_rate(piper_lecture.text, body["text"]) < MAX_WER
    assert longest_deleted_run(piper_lecture.text, body["text"]) <= MAX_DELETED_RUN
    segments = body["segments"]
    assert all(a["end"] <= b["start"] + 1e-6 for a, b in itertools.pairwise(segments))
    assert all(0 <= s["start"] <= s["end"] <= body["duration"] + 0.01 for s in segments)
    # Every paragraph that was spoken has text at its time: no window went missing.
    for start, end in piper_lecture.bounds:
        heard = [s for s in segments if s["start"] < end and s["end"] > start]
        assert heard, f"nothing transcribed between {start:.1f} s and {end:.1f} s"


def test_stream_sends_window_deltas_then_done(server: str, piper_excerpt: Lecture) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{server}/v1", api_key="unused", max_retries=0)
    stream = client.audio.transcriptions.create(
        model="whisper-1", file=("lecture.wav", piper_excerpt.wav), stream=True
    )
    events = list(stream)
    kinds = [e.type for e in events]
    assert kinds[-1] == "transcript.text.done"
    assert kinds[:-1] == ["transcript.text.delta"] * (len(kinds) - 1)
    assert len(kinds) >= 3  # about a minute: at least two windows, sent as each finished
    done = events[-1].text  # type: ignore[union-attr]
    assert "".join(e.delta for e in events[:-1]) == done  # type: ignore[union-attr]
    assert word_error_rate(piper_excerpt.text, done) < MAX_WER


def test_stream_reports_progress_in_order(server: str, piper_excerpt: Lecture) -> None:
    events = []
    with httpx.stream(
        "POST",
        f"{server}/v1/audio/transcriptions",
        files={"file": ("lecture.wav", piper_excerpt.wav)},
        data={"stream": "true"},
        timeout=120.0,
    ) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    deltas = [e for e in events if e["type"] == "transcript.text.delta"]
    done_s = [e["done_s"] for e in deltas]
    total = deltas[0]["total_s"]
    assert total == pytest.approx(piper_excerpt.seconds, abs=0.05)
    assert done_s == sorted(done_s)
    assert 0 < done_s[0] < total
    assert done_s[-1] == total  # the last window brings it to 100%


def test_stream_is_refused_before_it_starts(server: str) -> None:
    response = httpx.post(
        f"{server}/v1/audio/transcriptions",
        files={"file": ("notes.wav", b"not audio at all" * 10)},
        data={"stream": "true"},
        timeout=30.0,
    )
    assert response.status_code == 415  # a status, not a stream that breaks off
    assert response.json()["error"]["type"] == "unsupported_media"
    refused = post(server, _silence(), stream="true", response_format="srt")
    assert refused.status_code == 422


def test_word_timestamps(server: str, piper_excerpt: Lecture) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{server}/v1", api_key="unused", max_retries=0)
    verbose = client.audio.transcriptions.create(
        model="whisper-1",
        file=("lecture.wav", piper_excerpt.wav),
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )
    words = verbose.words or []
    reference = piper_excerpt.text.split()
    assert abs(len(words) - len(reference)) <= 0.1 * len(reference)
    assert all(w.start <= w.end for w in words)
    assert all(a.start <= b.start + 1e-6 for a, b in itertools.pairwise(words))
    assert words[-1].end <= piper_excerpt.seconds + 0.01
    # Each paragraph's first word is heard where the paragraph begins.
    for paragraph, (start, _) in zip(piper_excerpt.paragraphs, piper_excerpt.bounds, strict=True):
        first = paragraph.split()[0].strip(",.").lower()
        near = [w for w in words if abs(w.start - start) < 1.5]
        assert any(first in w.word.lower() for w in near), (first, start)
    assert verbose.segments


def test_translation_with_an_english_model_is_the_english_text(
    server: str, piper_excerpt: Lecture
) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{server}/v1", api_key="unused", max_retries=0)
    translation = client.audio.translations.create(
        model="whisper-1", file=("lecture.wav", piper_excerpt.wav)
    )
    assert word_error_rate(piper_excerpt.text, translation.text) < MAX_WER
    verbose = post(server, piper_excerpt, "translations", response_format="verbose_json")
    assert verbose.json()["task"] == "translate"


def test_wrong_method_is_405_with_allow(server: str) -> None:
    for path in ("/v1/audio/transcriptions", "/v1/audio/translations"):
        response = httpx.get(f"{server}{path}")
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"
        assert response.json()["error"]["type"] == "http_error"
    assert httpx.post(f"{server}/v1/models").headers["allow"] == "GET"


def _silence() -> Lecture:
    import numpy as np

    from tests.inference.asr import media

    return Lecture(media.wav_bytes(np.zeros(16_000, dtype=np.float32)), "", 1.0, [], [])
