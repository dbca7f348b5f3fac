"""Lectures of real length through the real path: ``LPUSH`` -> worker -> the real ASR
service (tiny.en) -> the fake LLM (2 s a call) -> MariaDB.

- The summary's map calls run while the lecture is still being transcribed: the
  mission takes under 1.15x the longer of its two parts (the ASR part as the mission
  saw it, the LLM part measured alone on the same transcript), where doing them one
  after the other would not.
- Progress states arrive in order, often enough, and end at ``done_s == total_s``.
- An hour of 44.1 kHz stereo WAV (635 MB) ends SUCCESS with the whole transcript, and
  neither process's memory follows the file: the worker's peak grows by under 64 MB,
  the ASR service's stays under 2.5 GB.
- A file over the service's duration limit ends FAILURE with a readable reason (413),
  and the worker goes on serving.

The 3-hour cases of each format are in test_long_lecture_slow.py (``make test-slow``).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from bench.common import bench_lock
from tests.inference.asr.conftest import require_piper
from tests.support.lecture_audio import write_lecture
from tests.support.lecture_stack import (
    API_KEY,
    ASR_SERVICE_MIB,
    WORKER_MIB,
    LectureStack,
    Run,
    lecture_stack,
    reset_peak,
    rss_kib,
    run_mission,
)
from worker.chunking import split_chunks
from worker.inference_client import InferenceClient
from worker.llm import ChatSession, Credentials, Endpoints, build_routes
from worker.prompts import PromptBook
from worker.summarize import summarize_lecture
from worker.transcript_stream import TranscriptDone

log = logging.getLogger(__name__)
pytestmark = [pytest.mark.services, pytest.mark.timeout(900)]

REDIS_DB = 8  # this module's own database (tests/conftest.py lists the others)
LIMIT_S = 5400  # the ASR service's duration limit in this module (90 minutes)
LLM_LATENCY_S = 2.0
# Small chunks and 4 calls at once make the LLM part long enough that doing it after
# the transcription would break the 1.15x bound: the test can tell the two orders apart.
# What the pipelined mission adds to the ASR time is fixed (the last chunk's call and the
# reduce call, 2 x 2 s, plus the last burst of windows' calls, 8 to 11 s in all): the
# hour's 56 minutes of speech keep the ASR part near 90 s on 2 cores (48 minutes took 73
# to 76 s once the encoder ran in bfloat16, which left the tail a margin of 0.3 s), so the
# tail stays well under 15 %; a faster CPU would need more speech (PARAGRAPHS_OF_SPEECH).
CHUNK_CHARS = 1000
CONCURRENCY = 4
PARAGRAPHS_OF_SPEECH = 200  # 56 minutes


@pytest.fixture(scope="module")
def lectures(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, mariadb_url: str
) -> Iterator[LectureStack]:
    require_piper()
    base = tmp_path_factory.mktemp("long-lecture")
    with lecture_stack(
        base,
        redis_url,
        mariadb_url,
        REDIS_DB,
        llm_latency_s=LLM_LATENCY_S,
        asr_env={"ASR_MAX_AUDIO_SECONDS": str(LIMIT_S)},
        worker_env={"LLM_CHUNK_CHARS": str(CHUNK_CHARS), "LLM_CONCURRENCY": str(CONCURRENCY)},
    ) as stack:
        yield stack


def session(llm_url: str, concurrency: int) -> ChatSession:
    routes = build_routes(
        Credentials(api_key=API_KEY, access_token=None),
        Endpoints(llm_url, "fake", None, None, 60.0, 0),
    )
    return ChatSession(routes, continue_prompt="繼續", max_continuations=0, concurrency=concurrency)


@dataclass
class Hour:
    run: Run
    asr_s: float  # the same file's transcription alone
    llm_s: float  # the same transcript's summary alone
    transcript: str
    worker_extra_mib: float
    asr_peak_mib: float


@pytest.fixture(scope="module")
def hour(lectures: LectureStack) -> Iterator[Hour]:
    """An hour of 44.1 kHz stereo WAV (635 MB, 56 minutes of speech): its ASR alone,
    the mission, and its LLM part alone, in that order, under the machine's bench lock."""
    lecture = write_lecture(
        lectures.audio / "hour.wav",
        seconds=3600.0,
        paragraphs=PARAGRAPHS_OF_SPEECH,
        rate=44_100,
        layout="stereo",
    )
    assert lecture.path.stat().st_size > 600_000_000
    asr = InferenceClient("ASR", lectures.asr_url, None, 600.0)
    with bench_lock():
        started = time.monotonic()
        with lecture.path.open("rb") as media:
            events = list(asr.stream_transcript(lecture.path.name, media))
        asr_s = time.monotonic() - started
        assert isinstance(events[-1], TranscriptDone)
        for pid in (lectures.worker_pid, lectures.asr_pid):
            reset_peak(pid)
        worker_before = rss_kib(lectures.worker_pid)
        run = run_mission(lectures, lecture, timeout=600)
        worker_extra_mib = (rss_kib(lectures.worker_pid, "VmHWM") - worker_before) / 1024
        asr_peak_mib = rss_kib(lectures.asr_pid, "VmHWM") / 1024
        assert run.meta["status"] == "SUCCESS", run.meta
        _, result = lectures.row(run.file_id)
        assert result is not None
        started = time.monotonic()
        summarize_lecture(
            session(lectures.llm.url, CONCURRENCY),
            PromptBook(None),
            result["content"],
            "生態系",
            chunk_chars=CHUNK_CHARS,
            notes_max_tokens=400,
            answer_max_tokens=1200,
        )
        llm_s = time.monotonic() - started
    log.info(
        "hour: asr alone %.1f s, llm alone %.1f s, mission %.1f s; worker +%.0f MiB, "
        "ASR service peak %.0f MiB",
        asr_s, llm_s, run.wall_s, worker_extra_mib, asr_peak_mib,
    )  # fmt: skip
    yield Hour(run, asr_s, llm_s, result["content"], worker_extra_mib, asr_peak_mib)
    lecture.path.unlink()  # 635 MB: pytest keeps the temporary folders of three sessions


def test_the_summary_runs_while_the_lecture_is_transcribed(
    hour: Hour, lectures: LectureStack
) -> None:
    run = hour.run
    timed = list(zip(run.progress.states, run.progress.times, strict=True))
    began = [at for state, at in timed if state["stage"] == "transcribing"]
    transcribed = [
        at
        for state, at in timed
        if state["stage"] == "transcribing" and state.get("done_s", -1) == state.get("total_s")
    ]
    assert began
    assert transcribed
    # The ASR part as this very run saw it: from the push (the upload starts at once) to
    # the last window, like the ASR alone, which is measured from its upload's start.
    # Other sessions share the machine: inside the mission the same work took up to 1.2x
    # as long as alone a minute before (more than the 15 % the bound allows), so the
    # bound takes the ASR part of the same run; a pipeline that slowed the transcription
    # would show against the ASR measured alone.
    asr_s = transcribed[0] - run.pushed_at  # the upload included, as in the ASR alone
    log.info("ASR inside the mission: %.1f s (alone: %.1f s)", asr_s, hour.asr_s)
    assert asr_s < 1.5 * hour.asr_s
    longer = max(asr_s, hour.llm_s)
    # One after the other (the old order) could not meet the bound with these parts.
    assert asr_s + hour.llm_s > 1.15 * longer, (asr_s, hour.llm_s)
    assert run.wall_s < 1.15 * longer, (run.wall_s, asr_s, hour.asr_s, hour.llm_s)
    # Map calls began well before the transcript was complete.
    mission_calls = [c for c in lectures.llm.calls() if run.pushed_at <= c.started]
    mission_calls = [c for c in mission_calls if c.ended <= run.pushed_at + run.wall_s]
    assert min(c.started for c in mission_calls) < transcribed[0] - 4 * LLM_LATENCY_S
    # The chunks are split_chunks' chunks of the saved transcript, each sent once; the
    # last alone is marked "recording ends", with the exact count.
    chunks = split_chunks(hour.transcript, CHUNK_CHARS)
    notes = [c for c in mission_calls if "逐字稿：" in c.last_user]
    assert sorted(c.last_user.split("逐字稿：\n", 1)[1] for c in notes) == sorted(chunks)
    # (A short last chunk can also end an earlier one: the marked call is found by its mark.)
    (last,) = [c for c in notes if f"第 {len(chunks)}／{len(chunks)} 段" in c.last_user]
    assert last.last_user.split("逐字稿：\n", 1)[1] == chunks[-1]


def test_progress_arrives_in_order_often_and_reaches_the_end(hour: Hour) -> None:
    run = hour.run
    stages = [state["stage"] for state in run.progress.states]
    order = ["queued", "transcribing", "prompting", "saving"]
    assert [order.index(s) for s in stages] == sorted(order.index(s) for s in stages), stages
    timed = [
        (state, at)
        for state, at in zip(run.progress.states, run.progress.times, strict=True)
        if state["stage"] == "transcribing" and "done_s" in state
    ]
    done = [state["done_s"] for state, _ in timed]
    total = timed[-1][0]["total_s"]
    assert done == sorted(done)
    assert done[-1] == total == pytest.approx(run.lecture.seconds, abs=1.0)
    # At least every 10 % of the audio or every 30 s, whichever comes first.
    for (before, t0), (after, t1) in itertools.pairwise(timed):
        assert after["done_s"] - before["done_s"] <= 0.1 * total, (before, after)
        assert t1 - t0 <= 31.0, (before, after)
    # Flower sees the same states as task-progress events, in the same order.
    events = [e for e in run.progress.events if e["type"] == "task-progress"]
    seen = [e["done_s"] for e in events if e.get("stage") == "transcribing" and "done_s" in e]
    assert seen == done


def test_an_hour_of_stereo_wav_is_complete_in_bounded_memory(
    hour: Hour, lectures: LectureStack
) -> None:
    assert hour.worker_extra_mib < WORKER_MIB
    assert hour.asr_peak_mib < ASR_SERVICE_MIB
    status, result = lectures.row(hour.run.file_id)
    assert status == "SUCCESS"
    assert result is not None
    assert set(result) >= {"prompt", "content", "summarize", "details", "usage"}
    words, reference = len(result["content"].split()), hour.run.lecture.words
    assert abs(words - reference) <= 0.05 * reference, (words, reference)


def test_over_the_duration_limit_fails_readably_and_the_worker_goes_on(
    lectures: LectureStack,
) -> None:
    # Two hours, 8 kHz 8-bit: 58 MB, so only its duration can refuse it.
    too_long = write_lecture(
        lectures.audio / "two-hours.wav", seconds=7200.0, paragraphs=1, rate=8000,
        codec="pcm_u8",
    )  # fmt: skip
    run = run_mission(lectures, too_long, timeout=120)
    assert run.meta["status"] == "FAILURE"
    status, result = lectures.row(run.file_id)
    assert status == "FAILURE"
    assert result is not None
    error = result["error"]
    assert error.startswith("ASR service: "), error
    assert "Traceback" not in error
    assert "413" in error or "long" in error, error
    too_long.path.unlink()
    short = write_lecture(lectures.audio / "short.m4a", seconds=60.0, paragraphs=2)
    after = run_mission(lectures, short, timeout=120)
    assert after.meta["status"] == "SUCCESS", after.meta
