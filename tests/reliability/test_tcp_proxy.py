"""The fault-injection proxy itself, against a real echo server on loopback."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from tests.support.tcp_proxy import Mode, TcpProxy

pytestmark = pytest.mark.timeout(60)


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    server = _Server(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with TcpProxy("127.0.0.1", server.server_address[1]) as running:
        yield running
    server.shutdown()
    server.server_close()


def connect(proxy: TcpProxy, timeout: float = 2.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=timeout)


def echo(sock: socket.socket, payload: bytes) -> bytes:
    sock.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = sock.recv(4096)
        if not chunk:
            break
        got += chunk
    return got


def test_forwards_both_ways(proxy: TcpProxy) -> None:
    with connect(proxy) as sock:
        assert echo(sock, b"hello") == b"hello"
        assert echo(sock, b"x" * 200_000) == b"x" * 200_000
    assert proxy.stats.bytes_up >= 200_005
    assert proxy.stats.bytes_down >= 200_005


def test_delay_adds_latency_each_way(proxy: TcpProxy) -> None:
    with connect(proxy) as sock:
        started = time.monotonic()
        assert echo(sock, b"ping") == b"ping"
        fast = time.monotonic() - started
        proxy.delay(0.3)
        started = time.monotonic()
        assert echo(sock, b"ping") == b"ping"
        slow = time.monotonic() - started
    assert slow >= 0.6 > fast


def is_dead(sock: socket.socket, tries: int = 20) -> bool:
    """True once the connection is reset or closed by the far side."""
    try:
        for _ in range(tries):
            if echo(sock, b"b") != b"b":
                return True
            time.sleep(0.05)
    except OSError:
        return True
    return False


def test_cut_resets_open_connections_and_refuses_new_ones(proxy: TcpProxy) -> None:
    sock = connect(proxy)
    assert echo(sock, b"a") == b"a"
    proxy.cut()
    assert is_dead(sock)
    sock.close()
    try:
        fresh = connect(proxy)
    except ConnectionError:
        pass  # the reset can land during the handshake: refused all the same
    else:
        with fresh:
            assert is_dead(fresh, tries=1)
    assert proxy.stats.refused >= 1
    proxy.heal()
    with connect(proxy) as healed:
        assert echo(healed, b"d") == b"d"


def test_blackhole_holds_traffic_until_healed(proxy: TcpProxy) -> None:
    sock = connect(proxy, timeout=0.5)
    assert echo(sock, b"a") == b"a"
    proxy.blackhole()
    assert proxy.mode is Mode.BLACKHOLE
    sock.sendall(b"held")
    with pytest.raises(TimeoutError):
        sock.recv(16)
    fresh = connect(proxy, timeout=0.5)  # the handshake succeeds, nothing else does
    fresh.sendall(b"x")
    with pytest.raises(TimeoutError):
        fresh.recv(16)
    proxy.heal()
    sock.settimeout(2.0)
    assert sock.recv(16) == b"held"
    sock.close()
    fresh.close()


def test_reply_answers_with_canned_bytes(proxy: TcpProxy) -> None:
    proxy.reply(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
    with connect(proxy) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(64).startswith(b"HTTP/1.1 503")
        assert sock.recv(64) == b""
    proxy.heal()
    with connect(proxy) as sock:
        assert echo(sock, b"ok") == b"ok"
