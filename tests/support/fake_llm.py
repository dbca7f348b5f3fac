"""A real local HTTP server speaking the OpenAI chat-completions protocol.

Not a mock: clients reach it over loopback with the official ``openai`` SDK. It can
refuse chosen keys (401), inject 429 (with ``Retry-After``) and 500, answer slowly, cut
replies with ``finish_reason=length``, and it counts prompt tokens per request, so tests
and benchmarks can compare conversations.

Replies are deterministic: when the last user message asks for ``## <title>`` sections,
the reply has those sections; otherwise it is a short note.

    python -m tests.support.fake_llm --port 8199 --latency 0.2
"""

from __future__ import annotations

import argparse
import json
import random
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

_TOKEN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[A-Za-z0-9_]+|[^\sA-Za-z0-9_]")


def count_tokens(text: str) -> int:
    """A stable stand-in for a BPE tokenizer: one token per CJK character, word or mark."""
    return len(_TOKEN.findall(text))


@dataclass
class Call:
    key: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    status: int
    started: float
    ended: float
    last_user: str


@dataclass
class FakeLLMState:
    latency_s: float = 0.0
    # Each reply waits latency_s plus up to this much more (a spread like a real API).
    latency_jitter_s: float = 0.0
    # Extra seconds for a request whose user messages contain the marker (one slow job).
    slow: dict[str, float] = field(default_factory=dict)
    reject_keys: set[str] = field(default_factory=set)
    failures: deque[tuple[int, dict[str, str]]] = field(default_factory=deque)
    truncations: int = 0
    calls: list[Call] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _reply_text(last_user: str) -> str:
    titles = [line[3:].strip() for line in last_user.splitlines() if line.startswith("## ")]
    if titles:
        return "\n\n".join(f"## {title}\n- 關於「{title}」的假回答。" for title in titles)
    return f"- 筆記：本段共 {count_tokens(last_user)} 個詞元。"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        return

    def _send(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        state = self.server.state
        started = time.monotonic()
        length = int(self.headers.get("Content-Length", "0"))
        request = json.loads(self.rfile.read(length) or b"{}")
        key = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        messages = request.get("messages", [])
        prompt_tokens = sum(count_tokens(str(m.get("content", ""))) for m in messages)
        users = [str(m.get("content", "")) for m in messages if m.get("role") == "user"]
        last_user = users[-1] if users else ""
        with state.lock:
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
            failure = state.failures.popleft() if state.failures else None
            truncate = state.truncations > 0 and key not in state.reject_keys
            if truncate and failure is None:
                state.truncations -= 1
        extra = max(
            (s for mark, s in state.slow.items() if any(mark in u for u in users)), default=0
        )
        time.sleep(state.latency_s + extra + random.uniform(0.0, state.latency_jitter_s))
        status, body, headers = self._answer(request, key, failure, truncate, last_user)
        completion = body["usage"]["completion_tokens"] if status == 200 else 0
        # Recorded before the reply is written: a client that got its answer always
        # finds its call counted.
        with state.lock:
            state.in_flight -= 1
            state.calls.append(
                Call(
                    key,
                    str(request.get("model", "")),
                    prompt_tokens,
                    completion,
                    status,
                    started,
                    time.monotonic(),
                    last_user,
                )
            )
        self._send(status, body, headers)

    def _answer(
        self,
        request: dict[str, Any],
        key: str,
        failure: tuple[int, dict[str, str]] | None,
        truncate: bool,
        last_user: str,
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        state = self.server.state
        if self.path.rstrip("/") != "/v1/chat/completions":
            return 404, {"error": {"message": "not found", "type": "not_found"}}, {}
        if key in state.reject_keys:
            # Like OpenAI, the body quotes part of the key: the worker must not relay it.
            hint = f"{key[:3]}***{key[-4:]}"
            message = f"Incorrect API key provided: {hint}"
            error = {"message": message, "type": "invalid_request_error", "code": "invalid_api_key"}
            return 401, {"error": error}, {}
        if failure is not None:
            status, headers = failure
            return status, {"error": {"message": "injected", "type": "server_error"}}, headers
        text = _reply_text(last_user)
        finish = "stop"
        if truncate:
            text, finish = text[: max(1, len(text) // 2)], "length"
        completion = count_tokens(text)
        prompt_tokens = sum(count_tokens(str(m.get("content", ""))) for m in request["messages"])
        choice = {
            "index": 0,
            "finish_reason": finish,
            "message": {"role": "assistant", "content": text},
        }
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion,
        }
        body = {
            "id": f"chatcmpl-{time.monotonic_ns()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model", "fake"),
            "choices": [choice],
            "usage": usage,
        }
        return 200, body, {}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: FakeLLMState


class FakeLLM:
    """Context manager running the server on a free loopback port in a thread."""

    def __init__(self, latency_s: float = 0.0, port: int = 0) -> None:
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.state = FakeLLMState(latency_s=latency_s)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def state(self) -> FakeLLMState:
        return self._server.state

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def reject(self, *keys: str) -> None:
        self.state.reject_keys.update(keys)

    def fail_next(self, status: int, times: int = 1, retry_after: float | None = None) -> None:
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        with self.state.lock:
            self.state.failures.extend([(status, headers)] * times)

    def slow_when(self, marker: str, seconds: float) -> None:
        """Requests that carry ``marker`` in a user message answer ``seconds`` later."""
        with self.state.lock:
            self.state.slow[marker] = seconds

    def truncate_next(self, times: int = 1) -> None:
        with self.state.lock:
            self.state.truncations += times

    def reset(self) -> None:
        with self.state.lock:
            self.state.calls.clear()
            self.state.failures.clear()
            self.state.truncations = 0
            self.state.slow.clear()
            self.state.max_in_flight = 0

    def calls(self) -> list[Call]:
        with self.state.lock:
            return list(self.state.calls)

    def prompt_tokens(self) -> int:
        return sum(call.prompt_tokens for call in self.calls() if call.status == 200)

    def start(self) -> FakeLLM:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.support.fake_llm")
    parser.add_argument("--port", type=int, default=8199)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    server = FakeLLM(latency_s=args.latency, port=args.port)
    server._server.serve_forever()


if __name__ == "__main__":
    main()
