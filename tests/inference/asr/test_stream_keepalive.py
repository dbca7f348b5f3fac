"""The stream's keepalive: a comment while a window is slow, the events unchanged, and a
client that leaves closes the events (its windows leave the queue)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from inference.asr_server.protocol import KEEPALIVE
from inference.asr_server.routes import with_keepalive


def test_a_slow_event_is_preceded_by_keepalives() -> None:
    async def events() -> AsyncGenerator[bytes, None]:
        yield b"first"
        await asyncio.sleep(0.35)
        yield b"second"

    async def collect() -> list[bytes]:
        return [chunk async for chunk in with_keepalive(events(), 0.1)]

    out = asyncio.run(collect())
    assert out[0] == b"first"
    assert out[-1] == b"second"
    assert 2 <= out.count(KEEPALIVE) <= 4
    assert set(out[1:-1]) == {KEEPALIVE}


def test_no_keepalive_when_events_are_frequent() -> None:
    async def events() -> AsyncGenerator[bytes, None]:
        for index in range(5):
            await asyncio.sleep(0.01)
            yield str(index).encode()

    async def collect() -> list[bytes]:
        return [chunk async for chunk in with_keepalive(events(), 1.0)]

    assert asyncio.run(collect()) == [b"0", b"1", b"2", b"3", b"4"]


def test_closing_the_stream_closes_the_events() -> None:
    closed = asyncio.Event()

    async def events() -> AsyncGenerator[bytes, None]:
        try:
            yield b"first"
            await asyncio.sleep(60)
            yield b"never"
        finally:
            closed.set()

    async def leave_early() -> None:
        stream = with_keepalive(events(), 0.05)
        assert await anext(stream) == b"first"
        assert await anext(stream) == KEEPALIVE  # the slow window is pending
        await stream.aclose()  # type: ignore[attr-defined]
        assert closed.is_set()

    asyncio.run(asyncio.wait_for(leave_early(), 5))
