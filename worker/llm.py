"""Talking to the LLM: credential routes, continuation, error mapping, token usage.

A :class:`ChatSession` serves one mission. It holds the user's routes in order (the
operator's access-token endpoint first when configured, then the OpenAI API key) and
moves to the next route when one is refused (401/403). Other failures map to
:class:`TransientError` (429, 5xx, timeouts; after the SDK's own retries, which honour
``Retry-After``) or :class:`PermanentError`. Server replies are never quoted in errors:
OpenAI's 401 body repeats part of the key.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import openai

from worker.deadline import Deadline
from worker.errors import PermanentError, TransientError

log = logging.getLogger(__name__)

Message = dict[str, str]
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Credentials:
    # repr=False: a traceback, log line or assert that shows this object shows no secret.
    api_key: str | None = field(repr=False)
    access_token: str | None = field(repr=False)


@dataclass(frozen=True)
class Endpoints:
    """Operator configuration of both routes."""

    api_base_url: str
    api_model: str
    token_base_url: str | None
    token_model: str | None
    timeout_s: float
    max_retries: int


@dataclass
class Route:
    name: str
    client: openai.OpenAI = field(repr=False)
    model: str = field(default="")
    timeout_s: float = 600.0


@dataclass
class Usage:
    """Tokens spent by one mission, summed over concurrent calls."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, prompt: int, completion: int) -> None:
        with self._lock:
            self.prompt_tokens += prompt
            self.completion_tokens += completion
            self.calls += 1

    def as_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "calls": self.calls,
        }


def build_routes(
    credentials: Credentials, endpoints: Endpoints, http_client: Any | None = None
) -> list[Route]:
    """The routes this user can try, in order; the token route needs an operator endpoint."""
    common: dict[str, Any] = {
        "timeout": endpoints.timeout_s,
        "max_retries": endpoints.max_retries,
        "http_client": http_client,
    }
    routes = []
    if credentials.access_token and endpoints.token_base_url:
        client = openai.OpenAI(
            api_key=credentials.access_token, base_url=endpoints.token_base_url, **common
        )
        model = endpoints.token_model or endpoints.api_model
        routes.append(Route("access_token", client, model, endpoints.timeout_s))
    if credentials.api_key:
        client = openai.OpenAI(
            api_key=credentials.api_key, base_url=endpoints.api_base_url, **common
        )
        routes.append(Route("api_key", client, endpoints.api_model, endpoints.timeout_s))
    if not routes:
        raise PermanentError("no usable LLM credential: provide an OpenAI API key")
    return routes


def _classify(exc: openai.OpenAIError) -> Exception:
    if isinstance(exc, openai.APIConnectionError):  # timeouts included
        return TransientError("LLM service is unreachable or timed out")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status in (408, 409, 429) or status >= 500:
            return TransientError(f"LLM service is busy (HTTP {status})")
        return PermanentError(f"LLM request was refused (HTTP {status})")
    return PermanentError("LLM reply could not be read")


class ChatSession:
    """One mission's access to the LLM."""

    def __init__(
        self,
        routes: Sequence[Route],
        *,
        continue_prompt: str,
        max_continuations: int,
        concurrency: int,
        deadline: Deadline | None = None,
    ) -> None:
        self._routes = list(routes)
        self._deadline = deadline
        self._current = 0
        self._lock = threading.Lock()
        self._continue_prompt = continue_prompt
        self._max_continuations = max_continuations
        self.concurrency = concurrency
        self.usage = Usage()

    def complete(self, messages: Sequence[Message], max_tokens: int) -> str:
        """The model's whole answer, asking it to continue while it stops for length."""
        while True:
            with self._lock:
                index = self._current
            if index >= len(self._routes):
                raise PermanentError("no usable LLM credential: every credential was refused")
            route = self._routes[index]
            try:
                return self._complete_on(route, messages, max_tokens)
            except (openai.AuthenticationError, openai.PermissionDeniedError):
                log.warning("LLM credential refused, trying the next", extra={"route": route.name})
                with self._lock:
                    self._current = max(self._current, index + 1)
            except openai.OpenAIError as exc:
                if self._deadline is not None:
                    self._deadline.check("waiting for the LLM")
                raise _classify(exc) from None

    def _complete_on(self, route: Route, messages: Sequence[Message], max_tokens: int) -> str:
        conversation: list[Any] = list(messages)
        parts: list[str] = []
        for _ in range(self._max_continuations + 1):
            timeout = route.timeout_s
            if self._deadline is not None:
                timeout = self._deadline.timeout_s(timeout, "asking the LLM")
            reply = route.client.chat.completions.create(
                model=route.model, messages=conversation, max_tokens=max_tokens, timeout=timeout
            )
            if reply.usage is not None:
                self.usage.add(reply.usage.prompt_tokens, reply.usage.completion_tokens)
            else:
                self.usage.add(0, 0)
            if not reply.choices:
                raise PermanentError("LLM reply had no answer")
            choice = reply.choices[0]
            text = choice.message.content or ""
            parts.append(text)
            if choice.finish_reason != "length":
                break
            conversation += [
                {"role": "assistant", "content": text},
                {"role": "user", "content": self._continue_prompt},
            ]
        return "".join(parts)

    @contextmanager
    def pool(self) -> Iterator[ThreadPoolExecutor]:
        """Threads for up to ``concurrency`` calls in flight, submitted one by one (the
        lecture's map step while its transcript streams). Calls not yet started when the
        block ends on an error are cancelled."""
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="llm")
        try:
            yield pool
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)

    def map(self, function: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``function`` over ``items`` with up to ``concurrency`` calls in flight."""
        todo = list(items)
        if len(todo) <= 1 or self.concurrency == 1:
            return [function(item) for item in todo]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(todo))) as pool:
            return list(pool.map(function, todo))
