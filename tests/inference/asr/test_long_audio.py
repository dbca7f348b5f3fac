"""An hour of 44.1 kHz stereo WAV (635 MB) through the server: the upload is spooled to
disk and decoded block by block, so the server's memory does not follow the file; the
stream reports progress to the end; a file over the duration limit is refused with 413
before anything is decoded."""

from __future__ import annotations

import json
import wave
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.inference.asr.conftest import Speech, asr_server
from tests.inference.asr.media import RATE

HOUR = 3600
OUT_RATE = 44_100
# Speech every this many seconds; the rest is room noise the VAD drops quickly.
EVERY_S = 60


def _stereo_44k(clip: np.ndarray) -> np.ndarray:
    """A 16 kHz mono clip as 44.1 kHz stereo 16-bit samples (linear interpolation)."""
    positions = np.arange(int(clip.shape[0] * OUT_RATE / RATE)) * (RATE / OUT_RATE)
    mono = np.interp(positions, np.arange(clip.shape[0]), clip)
    pcm = (np.clip(mono, -1, 1) * 32767).astype(np.int16)
    return np.repeat(pcm[:, None], 2, axis=1)


def write_lecture(path: Path, speech: Speech, seconds: int) -> int:
    """A WAV of ``seconds``, written a minute at a time; how many clips it holds."""
    clips = [_stereo_44k(s) for s in speech.sentences[:4]]
    rng = np.random.default_rng(5)
    count = 0
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(OUT_RATE)
        for minute in range(0, seconds, EVERY_S):
            block = (rng.standard_normal((EVERY_S * OUT_RATE, 2)) * 30).astype(np.int16)
            clip = clips[count % len(clips)]
            block[OUT_RATE : OUT_RATE + clip.shape[0]] = clip
            count += 1
            del minute
            out.writeframes(block.tobytes())
    return count


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def server_pid(base: str) -> int:
    port = base.rsplit(":", 1)[1]
    for status in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if b"inference.asr_server" in status.read_bytes():
                environ = (status.parent / "environ").read_bytes()
                if f"ASR_PORT={port}".encode() in environ:
                    return int(status.parent.name)
        except OSError:
            continue
    raise AssertionError("server process not found")


def stream_events(base: str, path: Path) -> Iterator[dict[str, object]]:
    with (
        path.open("rb") as upload,
        httpx.stream(
            "POST",
            f"{base}/v1/audio/transcriptions",
            files={"file": (path.name, upload, "audio/wav")},
            data={"stream": "true"},
            timeout=httpx.Timeout(120.0, connect=10.0),
        ) as response,
    ):
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if line.startswith("data: "):
                yield json.loads(line[6:])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with asr_server(tmp_path_factory.mktemp("asr-long")) as base:
        yield base


@pytest.mark.timeout(900)
def test_an_hour_of_stereo_wav_streams_through_in_bounded_memory(
    server: str, speech: Speech, tmp_path: Path
) -> None:
    short = tmp_path / "ten-minutes.wav"
    write_lecture(short, speech, 600)
    list(stream_events(server, short))
    after_short = peak_rss_mb(server_pid(server))

    lecture = tmp_path / "hour.wav"
    clips = write_lecture(lecture, speech, HOUR)
    assert lecture.stat().st_size > 600_000_000  # past the old 100 MB limit sixfold
    events = list(stream_events(server, lecture))
    deltas = [e for e in events if e["type"] == "transcript.text.delta"]
    done = [float(str(e["done_s"])) for e in deltas]
    assert done == sorted(done)
    assert done[-1] == pytest.approx(HOUR, abs=0.1)
    assert all(e["total_s"] == pytest.approx(HOUR, abs=0.1) for e in deltas)
    assert events[-1]["type"] == "transcript.text.done"
    text = str(events[-1]["text"]).lower()
    assert text.count("photosynthesis") + text.count("energy") > clips // 8  # speech heard
    peak = peak_rss_mb(server_pid(server))
    # Six times the audio, and the peak moved by less than the file's size: nothing holds
    # the file (600+ MB). Measured growth: 251 MiB on an AVX-512 BF16 EPYC, less on AMX.
    assert peak - after_short < 400, (after_short, peak)
    assert peak < 2500


def test_a_file_over_the_duration_limit_is_refused(speech: Speech, tmp_path: Path) -> None:
    lecture = tmp_path / "long.wav"
    write_lecture(lecture, speech, 180)
    with asr_server(tmp_path, ASR_MAX_AUDIO_SECONDS="120") as base:
        with lecture.open("rb") as upload:
            response = httpx.post(
                f"{base}/v1/audio/transcriptions",
                files={"file": (lecture.name, upload)},
                data={"stream": "true"},
                timeout=60.0,
            )
        assert response.status_code == 413
        assert "longer than 120 seconds" in response.json()["error"]["message"]
        ok = httpx.get(f"{base}/readyz", timeout=10.0)
        assert ok.status_code == 200  # and it keeps serving
