"""The summary pipelined with a streaming transcript, against the real fake-LLM server:
the map calls start while the events still come, their chunks are split_chunks' chunks,
only the last says "recording ends", and the result is the sequential path's."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator

import pytest

from tests.support.fake_llm import FakeLLM
from worker.chunking import split_chunks
from worker.errors import PermanentError, TransientError
from worker.lecture_stream import NoteSettings, summarize_while_transcribing
from worker.llm import ChatSession, Credentials, Endpoints, build_routes
from worker.prompts import PromptBook
from worker.summarize import summarize_lecture
from worker.transcript_stream import Keepalive, TranscriptDelta, TranscriptDone, TranscriptEvent

SENTENCE = "Energy flows through the ecosystem in one direction and leaves as heat."
NOTES = NoteSettings(chunk_chars=500, notes_max_tokens=200, answer_max_tokens=400)
TOTAL_S = 600.0
_PART = re.compile(r"第 (\d+)／(\d+) 段（(.+?)）")


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh(llm: FakeLLM) -> None:
    llm.reset()
    llm.state.latency_s = 0.0


def chat(llm: FakeLLM, concurrency: int = 4) -> ChatSession:
    endpoints = Endpoints(llm.url, "gpt-test", None, None, 10.0, 0)
    routes = build_routes(Credentials("sk-test", None), endpoints)
    return ChatSession(routes, continue_prompt="繼續", max_continuations=0, concurrency=concurrency)


def windows(count: int) -> list[str]:
    """Deltas as the ASR service sends them: bare first, then " "-prefixed."""
    texts = [f"Window {i} begins. " + " ".join([SENTENCE] * 3) for i in range(count)]
    return [texts[0], *(" " + t for t in texts[1:])]


def events(deltas: list[str], gap_s: float = 0.0) -> Iterator[TranscriptEvent]:
    for index, delta in enumerate(deltas, start=1):
        time.sleep(gap_s)
        yield Keepalive()
        yield TranscriptDelta(delta, TOTAL_S * index / len(deltas), TOTAL_S)
    yield TranscriptDone("".join(deltas))


def test_map_calls_start_while_the_transcript_streams(llm: FakeLLM) -> None:
    deltas = windows(24)
    reports: list[tuple[str, dict[str, object]]] = []
    session = chat(llm)
    started = time.monotonic()
    transcript, answer = summarize_while_transcribing(
        session,
        PromptBook(),
        events(deltas, gap_s=0.1),
        "生態系",
        NOTES,
        lambda stage, **meta: reports.append((stage, meta)),
    )
    streamed_until = started + 0.1 * len(deltas)
    assert transcript == "".join(deltas).strip()
    chunks = split_chunks(transcript, NOTES.chunk_chars)
    calls = llm.calls()
    notes = [c for c in calls if "逐字稿：" in c.last_user]
    assert len(notes) == len(chunks)
    assert len(calls) == len(chunks) + 1
    assert sum(c.started < streamed_until for c in notes) >= len(chunks) // 2
    parts = {c.last_user.split("逐字稿：\n", 1)[1]: _PART.search(c.last_user) for c in notes}
    assert sorted(parts) == sorted(chunks)
    for index, chunk in enumerate(chunks, start=1):
        found = parts[chunk]
        assert found is not None
        assert int(found.group(1)) == index
        if index == len(chunks):  # the last: exact count, "recording ends"
            assert int(found.group(2)) == index
            assert found.group(3) == PromptBook().text("lecture_marker_ends")
        else:
            assert int(found.group(2)) > index
            assert found.group(3) == PromptBook().text("lecture_marker_continues")
    # The same answer the sequential path gives.
    llm.reset()
    alone = summarize_lecture(
        chat(llm), PromptBook(), transcript, "生態系",
        chunk_chars=NOTES.chunk_chars, notes_max_tokens=200, answer_max_tokens=400,
    )  # fmt: skip
    assert (answer.summarize, answer.details) == (alone.summarize, alone.details)
    # Progress: transcribing in order up to the end, then prompting up to total/total.
    stages = [stage for stage, _ in reports]
    assert stages == sorted(stages, key=["transcribing", "prompting"].index)
    done = [meta["done_s"] for stage, meta in reports if stage == "transcribing"]
    assert done == sorted(done)
    assert done[-1] == TOTAL_S
    assert reports[-1] == ("prompting", {"done": len(chunks) + 1, "total": len(chunks) + 1})


def test_a_lecture_that_fits_one_chunk_skips_the_map_step(llm: FakeLLM) -> None:
    transcript, _ = summarize_while_transcribing(
        chat(llm), PromptBook(), events([SENTENCE]), "", NOTES, lambda *_, **__: None
    )
    assert transcript == SENTENCE
    (call,) = llm.calls()
    assert PromptBook().text("lecture_source_transcript") in call.last_user


def test_no_speech_is_a_readable_failure(llm: FakeLLM) -> None:
    with pytest.raises(PermanentError, match="no speech"):
        summarize_while_transcribing(
            chat(llm), PromptBook(), events(["", " "]), "", NOTES, lambda *_, **__: None
        )
    assert llm.calls() == []


def test_a_failed_map_call_ends_the_mission_before_the_stream_does(llm: FakeLLM) -> None:
    llm.fail_next(500, times=50)
    consumed = threading.Event()

    def endless() -> Iterator[TranscriptEvent]:
        for delta in windows(400):
            yield TranscriptDelta(delta, 1.0, TOTAL_S)
            time.sleep(0.02)
        consumed.set()
        yield TranscriptDone("")

    with pytest.raises(TransientError, match="LLM service is busy"):
        summarize_while_transcribing(
            chat(llm), PromptBook(), endless(), "", NOTES, lambda *_, **__: None
        )
    assert not consumed.is_set()
