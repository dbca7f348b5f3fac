"""A 60-minute lecture end to end: the summary pipelined with the transcription against
the old order (transcribe, then summarise), in one run.

Both read the same file (Piper speech, 44.1 kHz mono WAV) through the real ASR service
(tiny.en, 2 threads) and the fake LLM answering in 2 s:

- *pipelined*: ``LPUSH`` -> the worker as shipped -> SUCCESS in the database;
- *sequential*: the transcript streamed from the service alone, then
  :func:`worker.summarize.summarize_lecture` on it, the two timed apart.

Recorded: wall times (and the bound of the issue, 1.15x max(ASR alone, LLM alone)), the
peak RSS of the worker and of the ASR service during the pipelined mission (``VmHWM``
from /proc, reset before it), and each run's timeline: when each ASR window's text
arrived and when each LLM call ran. Writes bench/results/lecture.json and lecture.png.
The measurement holds the machine's bench lock (``/tmp/cpu-bench.lock``).
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict

from bench.common import bench_lock, new_figure, png_path, write_json
from tests.support.fake_llm import FakeLLM
from tests.support.lecture_audio import LectureFile, write_lecture
from tests.support.lecture_stack import (
    API_KEY,
    LectureStack,
    lecture_stack,
    reset_peak,
    rss_kib,
    run_mission,
)
from worker.inference_client import InferenceClient
from worker.llm import ChatSession, Credentials, Endpoints, build_routes
from worker.prompts import PromptBook
from worker.summarize import summarize_lecture
from worker.transcript_stream import TranscriptDelta, TranscriptDone

log = logging.getLogger("bench.lecture")


class LectureBenchSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BENCH_LECTURE_")

    seconds: float = 3600.0
    # 200 paragraphs of about 17.5 s: an hour of speech, with short pauses between.
    paragraphs: int = 200
    llm_latency_s: float = 2.0
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_db: int = 7


def _calls(llm: FakeLLM, since: float) -> list[dict[str, float]]:
    return [
        {"start_s": c.started - since, "end_s": c.ended - since}
        for c in llm.calls()
        if c.started >= since
    ]


def _sequential(stack: LectureStack, lecture: LectureFile) -> dict[str, Any]:
    asr = InferenceClient("ASR", stack.asr_url, None, 600.0)
    started = time.monotonic()
    windows: list[dict[str, float]] = []
    text = ""
    with lecture.path.open("rb") as media:
        for event in asr.stream_transcript(lecture.path.name, media):
            if isinstance(event, TranscriptDelta):
                windows.append({"at_s": time.monotonic() - started, "done_s": event.done_s or 0})
            elif isinstance(event, TranscriptDone):
                text = event.text
    asr_s = time.monotonic() - started
    routes = build_routes(
        Credentials(api_key=API_KEY, access_token=None),
        Endpoints(stack.llm.url, "fake", None, None, 60.0, 0),
    )
    session = ChatSession(routes, continue_prompt="繼續", max_continuations=0, concurrency=4)
    llm_started = time.monotonic()
    summarize_lecture(
        session, PromptBook(None), text, "生態系",
        chunk_chars=2500, notes_max_tokens=400, answer_max_tokens=1200,
    )  # fmt: skip
    llm_s = time.monotonic() - llm_started
    return {
        "asr_s": round(asr_s, 2),
        "llm_s": round(llm_s, 2),
        "wall_s": round(asr_s + llm_s, 2),
        "llm_calls": len(_calls(stack.llm, llm_started)),
        "transcript_chars": len(text),
        "timeline": {"windows": windows, "llm": _calls(stack.llm, started)},
    }


def _pipelined(stack: LectureStack, lecture: LectureFile) -> dict[str, Any]:
    for pid in (stack.worker_pid, stack.asr_pid):
        reset_peak(pid)
    worker_before = rss_kib(stack.worker_pid)
    run = run_mission(stack, lecture, timeout=3000)
    if run.meta["status"] != "SUCCESS":
        raise RuntimeError(f"the mission ended {run.meta['status']}")
    windows = [
        {"at_s": at - run.pushed_at, "done_s": state["done_s"]}
        for state, at in zip(run.progress.states, run.progress.times, strict=True)
        if state["stage"] == "transcribing" and "done_s" in state
    ]
    return {
        "wall_s": round(run.wall_s, 2),
        "worker_rss_before_mib": round(worker_before / 1024, 1),
        "worker_peak_mib": round(rss_kib(stack.worker_pid, "VmHWM") / 1024, 1),
        "worker_extra_mib": round((rss_kib(stack.worker_pid, "VmHWM") - worker_before) / 1024, 1),
        "asr_service_peak_mib": round(rss_kib(stack.asr_pid, "VmHWM") / 1024, 1),
        "timeline": {"windows": windows, "llm": _calls(stack.llm, run.pushed_at)},
    }


def _plot(results: dict[str, Any]) -> Path:
    fig, axes = new_figure(2, 1, figsize=(11, 5.5), sharex=True)
    for ax, name in zip(axes, ("sequential", "pipelined"), strict=True):
        timeline = results[name]["timeline"]
        at = [w["at_s"] for w in timeline["windows"]]
        ax.scatter(at, [1.0] * len(at), marker="|", s=200, label="ASR window's text arrives")
        for row, call in enumerate(timeline["llm"]):
            ax.plot([call["start_s"], call["end_s"]], [0.6 - 0.4 * (row % 4) / 4] * 2, lw=4)
        ax.axvline(results[name]["wall_s"], color="black", ls="--", label="mission done")
        ax.set_yticks([1.0, 0.45], ["ASR", "LLM calls"])
        ax.set_title(f"{name}: {results[name]['wall_s']:.0f} s")
        ax.legend(loc="center left", fontsize=8)
    axes[-1].set_xlabel("seconds since the lecture was pushed")
    fig.tight_layout()
    path = png_path("lecture")
    fig.savefig(path, dpi=110)
    return path


def main() -> None:
    settings = LectureBenchSettings()
    with tempfile.TemporaryDirectory(prefix="bench-lecture-") as folder:
        base = Path(folder)
        database = f"sqlite:///{base / 'files.db'}"
        with lecture_stack(
            base, settings.redis_url, database, settings.redis_db,
            llm_latency_s=settings.llm_latency_s,
        ) as stack:  # fmt: skip
            lecture = write_lecture(
                stack.audio / "lecture.wav",
                seconds=settings.seconds,
                paragraphs=settings.paragraphs,
            )
            size = lecture.path.stat().st_size
            with bench_lock():
                sequential = _sequential(stack, lecture)
                pipelined = _pipelined(stack, lecture)
    longer = max(sequential["asr_s"], sequential["llm_s"])
    results: dict[str, Any] = {
        "lecture": {
            "seconds": lecture.seconds,
            "speech_seconds": round(lecture.speech_seconds, 1),
            "words": lecture.words,
            "bytes": size,
            "format": "WAV 44.1 kHz mono 16-bit",
        },
        "llm_latency_s": settings.llm_latency_s,
        "sequential": sequential,
        "pipelined": pipelined,
        "pipelined_over_max_part": round(pipelined["wall_s"] / longer, 3),
        "bound": 1.15,
        "pipelined_over_sequential": round(pipelined["wall_s"] / sequential["wall_s"], 3),
    }
    results["plot"] = str(_plot(results).name)
    path = write_json("lecture", results)
    log.info(
        "lecture: sequential %.0f s (asr %.0f + llm %.0f), pipelined %.0f s (%.3fx the longer "
        "part); worker peak %.0f MiB, ASR service peak %.0f MiB -> %s",
        sequential["wall_s"], sequential["asr_s"], sequential["llm_s"], pipelined["wall_s"],
        results["pipelined_over_max_part"], pipelined["worker_peak_mib"],
        pipelined["asr_service_peak_mib"], path,
    )  # fmt: skip
