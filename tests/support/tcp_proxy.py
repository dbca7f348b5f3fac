"""An asyncio TCP proxy that injects network faults between a client and a real server.

It runs its own event loop in a thread, so synchronous tests drive it directly::

    with TcpProxy("127.0.0.1", 6379) as proxy:      # clients connect to proxy.port
        proxy.cut()            # drop every connection, refuse new ones (RST)
        proxy.blackhole()      # accept and hold connections, forward nothing
        proxy.delay(0.5)       # forward, each chunk half a second late
        proxy.reply(b"HTTP/1.1 503 ...")  # answer every new connection with canned bytes
        proxy.hold_reply(check)  # hold the first server chunk ``check`` accepts ...
        proxy.held.wait(10)      # ... (set once it is held) ...
        proxy.release()          # ... and forward it
        proxy.heal()           # back to plain forwarding

``cut`` and ``blackhole`` both hit established connections too: the first closes them
with a reset, the second stops forwarding on them, like a dead peer or a firewall drop.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

_CHUNK = 65536


class Mode(enum.StrEnum):
    PASS = "pass"
    CUT = "cut"
    BLACKHOLE = "blackhole"
    REPLY = "reply"


@dataclass
class ProxyStats:
    accepted: int = 0
    refused: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    modes: list[tuple[float, str]] = field(default_factory=list)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0), as a crashed or unplugged peer appears to a client."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, listen_port: int = 0) -> None:
        self.target = (target_host, target_port)
        self._listen_port = listen_port
        self._mode = Mode.PASS
        self._delay_s = 0.0
        self._canned = b""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._hold: Callable[[bytes], bool] | None = None
        self._released = asyncio.Event()
        self.held = threading.Event()
        self._lonely: set[asyncio.StreamWriter] = set()
        self.stats = ProxyStats()

    # -- control (any thread) ------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None, "proxy not started"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def mode(self) -> Mode:
        return self._mode

    def _set(self, mode: Mode) -> None:
        self._mode = mode
        self.stats.modes.append((time.monotonic(), mode.value))
        self._call(self._apply_mode)

    def heal(self) -> None:
        self._delay_s = 0.0
        self._set(Mode.PASS)

    def delay(self, seconds: float) -> None:
        self._delay_s = seconds
        self._set(Mode.PASS)

    def cut(self) -> None:
        self._set(Mode.CUT)

    def blackhole(self) -> None:
        self._set(Mode.BLACKHOLE)

    def reply(self, canned: bytes) -> None:
        """New connections get ``canned`` and are closed; established ones are dropped."""
        self._canned = canned
        self._set(Mode.REPLY)

    def hold_reply(self, check: Callable[[bytes], bool]) -> None:
        """Holds the first chunk from the server for which ``check`` (run on the proxy's
        loop, so it may block briefly) is true, and everything after it on that
        connection, until :meth:`release`. One chunk: later ones pass."""
        self.held.clear()
        self._call(self._released.clear)
        self._hold = check

    def release(self) -> None:
        self._hold = None
        self._call(self._released.set)

    def connections(self) -> int:
        return len(self._pairs) + len(self._lonely)

    def start(self) -> TcpProxy:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._serve(), self._loop)
        future.result(timeout=10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- the event loop side ---------------------------------------------------------------

    def _call(self, function: object) -> None:
        if self._thread.is_alive():
            done = threading.Event()

            def run() -> None:
                try:
                    function()  # type: ignore[operator]
                finally:
                    done.set()

            self._loop.call_soon_threadsafe(run)
            done.wait(timeout=10)

    async def _serve(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self._listen_port)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        self._drop_all()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    def _drop_all(self) -> None:
        for client, upstream in list(self._pairs):
            _reset(client)
            _reset(upstream)
        self._pairs.clear()
        for writer in list(self._lonely):
            _reset(writer)
        self._lonely.clear()

    def _apply_mode(self) -> None:
        if self._mode is Mode.BLACKHOLE:
            self._flowing.clear()
        else:
            self._flowing.set()
        if self._mode in (Mode.CUT, Mode.REPLY):
            self._drop_all()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        mode = self._mode
        if mode is Mode.CUT:
            self.stats.refused += 1
            _reset(writer)
            return
        if mode is Mode.REPLY:
            self.stats.refused += 1
            await self._answer_canned(reader, writer)
            return
        self.stats.accepted += 1
        if mode is Mode.BLACKHOLE:
            self._lonely.add(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            _reset(writer)
            return
        pair = (writer, up_writer)
        self._pairs.add(pair)
        try:
            await asyncio.gather(
                self._pump(reader, up_writer, up=True),
                self._pump(up_reader, writer, up=False),
            )
        finally:
            self._pairs.discard(pair)
            for end in pair:
                end.close()

    async def _answer_canned(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        # Read the request first: closing with unread data would turn the reply into a RST.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(reader.read(_CHUNK), 2)
        with contextlib.suppress(OSError):
            writer.write(self._canned)
            await writer.drain()
        writer.close()

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, up: bool
    ) -> None:
        try:
            while True:
                data = await reader.read(_CHUNK)
                if not data:
                    break
                if self._delay_s:
                    await asyncio.sleep(self._delay_s)
                # Held, not lost: a blackhole ends with a cut (drop) or a heal (resume).
                await self._flowing.wait()
                if writer.is_closing():
                    break
                # Counted before the write: the peer may read these bytes (and the test
                # check the stats) before drain() hands control back to this coroutine.
                if not up and self._hold is not None and self._hold(data):
                    self._hold = None
                    self.held.set()
                    await self._released.wait()
                if up:
                    self.stats.bytes_up += len(data)
                else:
                    self.stats.bytes_down += len(data)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            if not writer.is_closing():
                with contextlib.suppress(OSError):
                    writer.write_eof()
