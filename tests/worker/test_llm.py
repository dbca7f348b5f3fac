"""LLM prompting against a real local OpenAI-compatible server (tests/support/fake_llm)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest

from tests.support.fake_llm import FakeLLM
from tests.support.services import free_port
from worker.errors import PermanentError, TransientError
from worker.llm import ChatSession, Credentials, Endpoints, build_routes
from worker.prompts import PromptBook
from worker.seed_conversation import summarize_like_seed
from worker.summarize import grade_essay, split_chunks, summarize_lecture

GOOD, BAD, TOKEN = "sk-good-key-123456", "sk-revoked-key-QzWyXv", "access-token-abcdef"
SENTENCE = "今天我們討論傅立葉轉換與頻譜分析，老師提醒期末考會考這個部分。"


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        server.reject(BAD)
        yield server


@pytest.fixture(autouse=True)
def _fresh(llm: FakeLLM) -> None:
    llm.reset()
    llm.state.latency_s = 0.0


@pytest.fixture(scope="module")
def prompts() -> PromptBook:
    return PromptBook()


def session(
    url: str,
    prompts: PromptBook,
    api_key: str | None = GOOD,
    token: str | None = None,
    token_url: str | None = None,
    concurrency: int = 4,
) -> ChatSession:
    endpoints = Endpoints(url, "gpt-test", token_url, "token-model", 10.0, 3)
    routes = build_routes(Credentials(api_key, token), endpoints)
    return ChatSession(
        routes,
        continue_prompt=prompts.text("continue"),
        max_continuations=3,
        concurrency=concurrency,
    )


def test_refused_first_credential_falls_through_without_leaking(
    llm: FakeLLM, prompts: PromptBook, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    chat = session(llm.url, prompts, api_key=GOOD, token=BAD, token_url=llm.url)
    answer = grade_essay(chat, prompts, "I like dogs.", "My Pet", answer_max_tokens=200)
    calls = llm.calls()
    assert [(c.key, c.status) for c in calls] == [(BAD, 401), (GOOD, 200)]
    assert calls[1].model == "gpt-test"
    assert [d.splitlines()[0] for d in answer.details] == ["## 分數", "## 詳細建議", "## 簡短鼓勵"]
    assert answer.summarize == "\n\n".join(answer.details)
    assert BAD[-4:] not in caplog.text


def test_access_token_route_is_tried_first_and_used(llm: FakeLLM, prompts: PromptBook) -> None:
    chat = session(llm.url, prompts, api_key=GOOD, token=TOKEN, token_url=llm.url)
    grade_essay(chat, prompts, "I like dogs.", "", answer_max_tokens=200)
    assert [(c.key, c.model) for c in llm.calls()] == [(TOKEN, "token-model")]


def test_token_without_an_operator_endpoint_is_skipped(llm: FakeLLM, prompts: PromptBook) -> None:
    with pytest.raises(PermanentError, match="no usable LLM credential"):
        session(llm.url, prompts, api_key=None, token=TOKEN, token_url=None)


def test_no_working_credential_is_a_clear_permanent_failure(
    llm: FakeLLM, prompts: PromptBook
) -> None:
    chat = session(llm.url, prompts, api_key=BAD)
    with pytest.raises(PermanentError) as info:
        grade_essay(chat, prompts, "I like dogs.", "", answer_max_tokens=200)
    assert "every credential was refused" in info.value.message
    assert BAD[-4:] not in str(info.value)
    assert len(llm.calls()) == 1  # no extra "hello" probe


def test_429_and_500_are_retried_then_succeed(llm: FakeLLM, prompts: PromptBook) -> None:
    llm.fail_next(429, retry_after=0.05)
    llm.fail_next(500)
    chat = session(llm.url, prompts)
    answer = grade_essay(chat, prompts, "I like dogs.", "", answer_max_tokens=200)
    assert [c.status for c in llm.calls()] == [429, 500, 200]
    assert len(answer.details) == 3
    assert chat.usage.calls == 1


def test_persistent_overload_becomes_transient(llm: FakeLLM, prompts: PromptBook) -> None:
    llm.fail_next(503, times=4, retry_after=0.01)
    chat = session(llm.url, prompts)
    with pytest.raises(TransientError, match="busy"):
        grade_essay(chat, prompts, "I like dogs.", "", answer_max_tokens=200)


def test_unreachable_llm_is_transient(prompts: PromptBook) -> None:
    chat = session(f"http://127.0.0.1:{free_port()}/v1", prompts)
    chat._routes[0].client = chat._routes[0].client.with_options(max_retries=0)
    with pytest.raises(TransientError, match="unreachable"):
        grade_essay(chat, prompts, "I like dogs.", "", answer_max_tokens=200)


def test_length_cut_reply_is_continued(llm: FakeLLM, prompts: PromptBook) -> None:
    llm.truncate_next(1)
    chat = session(llm.url, prompts)
    answer = grade_essay(chat, prompts, "I like dogs.", "", answer_max_tokens=200)
    calls = llm.calls()
    assert len(calls) == 2
    assert calls[1].last_user == prompts.text("continue")
    assert answer.details[0].startswith("## 分數")
    assert "筆記" in answer.summarize  # the continuation's text is appended


def test_split_chunks_keeps_all_text_near_the_size() -> None:
    text = SENTENCE * 1000
    chunks = split_chunks(text, 2500)
    assert "".join(chunks) == text
    assert all(2000 <= len(c) <= 2500 for c in chunks[:-1])
    assert all(c.endswith("。") for c in chunks[:-1])


def test_long_lecture_uses_fewer_tokens_than_the_seed_and_runs_concurrently(
    llm: FakeLLM, prompts: PromptBook
) -> None:
    transcript = (SENTENCE * 1000)[:30_000]
    llm.state.latency_s = 0.05
    chat = session(llm.url, prompts, concurrency=4)
    stages: list[tuple[int, int]] = []
    started = time.perf_counter()
    answer = summarize_lecture(
        chat,
        prompts,
        transcript,
        "訊號與系統",
        chunk_chars=2500,
        notes_max_tokens=300,
        answer_max_tokens=1000,
        progress=lambda done, total: stages.append((done, total)),
    )
    new_wall = time.perf_counter() - started
    new_tokens, new_calls = llm.prompt_tokens(), len(llm.calls())
    assert llm.state.max_in_flight >= 2
    assert chat.usage.prompt_tokens == new_tokens
    chunks = len(split_chunks(transcript, 2500))
    assert new_calls == chunks + 1
    assert stages[-1] == (chunks + 1, chunks + 1)
    assert [d.splitlines()[0] for d in answer.details] == [
        "## 重要觀念",
        "## 可能考題",
        "## 考試時間與範圍",
    ]

    llm.reset()
    seed = session(llm.url, prompts)
    started = time.perf_counter()
    summarize_like_seed(seed, prompts, transcript, "訊號與系統", chunk_chars=2500, max_tokens=300)
    seed_wall = time.perf_counter() - started
    seed_tokens = llm.prompt_tokens()
    assert llm.state.max_in_flight == 1
    assert seed_tokens / new_tokens > 4, (seed_tokens, new_tokens)
    assert new_wall < seed_wall
