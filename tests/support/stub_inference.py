"""A small real HTTP server standing in for the ASR and OCR services in worker tests.

It speaks the two routes the worker uses (``POST /v1/audio/transcriptions`` and
``POST /v1/ocr``, multipart ``file``) with the services' error shape. Uploads whose bytes
start with ``CORRUPT`` get 415 like a real decoder would answer; ``fail_next`` queues
statuses (e.g. 503) for the next requests. Every upload is recorded.

A transcription with ``stream=true`` answers server-sent events like the ASR service:
the transcript in ``stream_pieces`` deltas (with one empty delta, a window without
speech, after the first), each with ``done_s`` / ``total_s`` of ``stream_total_s``
seconds, a keepalive comment before each, then the done event. ``break_next_stream``
queues a fault for the next streams: ``error:<type>`` ends it with an error event after
the first delta, ``cut`` closes it there, ``stall`` goes silent there for ``stall_s``.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

TRANSCRIPT = "今天介紹傅立葉轉換。它把訊號拆成不同頻率的正弦波。期末考會考這一章，範圍到第五章。"
ESSAY = "My Dream\n    I want to be a teacher because I like helping people learn new things."

_ERRORS = {
    415: ("unsupported media type", "unsupported_media"),
    503: ("model is not ready", "model_not_ready"),
    429: ("too many requests", "overloaded"),
    400: ("media could not be decoded", "corrupt_media"),
}


@dataclass
class Upload:
    path: str
    filename: str
    size: int
    head: bytes


@dataclass
class StubState:
    transcript: str = TRANSCRIPT
    essay: str = ESSAY
    failures: deque[int] = field(default_factory=deque)
    # Seconds each request takes after its upload is recorded (a long transcription).
    latency_s: float = 0.0
    uploads: list[Upload] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stream_pieces: int = 3
    stream_total_s: float = 60.0
    # Seconds between two events of a stream.
    stream_gap_s: float = 0.0
    stall_s: float = 5.0
    stream_faults: deque[str] = field(default_factory=deque)


def _parts(content_type: str, body: bytes) -> tuple[tuple[str, bytes] | None, dict[str, str]]:
    """The file part (name, bytes) and the other form fields of a multipart body."""
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    found, form = None, {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if name == "file":
            found = (part.get_filename() or "", data)
        elif isinstance(name, str):
            form[name] = data.decode(errors="replace")
    return found, form


def stream_deltas(text: str, pieces: int) -> list[str]:
    """``text`` cut into ``pieces`` parts that join back to it, an empty one after the
    first (a window where nobody spoke)."""
    size = max(1, -(-len(text) // max(1, pieces)))
    parts = [text[i : i + size] for i in range(0, len(text), size)] or [""]
    return [parts[0], "", *parts[1:]]


def sse(payload: dict[str, Any], event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int) -> None:
        message, kind = _ERRORS.get(status, ("error", "inference_error"))
        self._send(status, {"error": {"message": message, "type": kind}})

    def do_POST(self) -> None:
        state = self.server.state
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        found, form = _parts(self.headers.get("Content-Type", ""), body)
        if found is None:
            self._send(422, {"error": {"message": "file is required", "type": "invalid_request"}})
            return
        filename, data = found
        with state.lock:
            state.uploads.append(Upload(self.path, filename, len(data), data[:16]))
            failure = state.failures.popleft() if state.failures else None
        time.sleep(state.latency_s)
        if failure is not None:
            self._error(failure)
        elif data.startswith(b"CORRUPT"):
            self._error(415)
        elif self.path == "/v1/audio/transcriptions" and form.get("stream") == "true":
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # worker hung up
                self._stream(state)
        elif self.path == "/v1/audio/transcriptions":
            self._send(200, {"text": state.transcript})
        elif self.path == "/v1/ocr":
            lines = [
                {
                    "box": [0, 20 * i, 100, 20 * i + 18],
                    "text": line.strip(),
                    "confidence": 0.9,
                    "indented": line.startswith("    "),
                }
                for i, line in enumerate(state.essay.splitlines())
            ]
            self._send(200, {"text": state.essay, "lines": lines, "width": 100, "height": 200})
        else:
            self._send(404, {"error": {"message": "not found", "type": "not_found"}})

    def _stream(self, state: StubState) -> None:
        with state.lock:
            fault = state.stream_faults.popleft() if state.stream_faults else None
        deltas = stream_deltas(state.transcript, state.stream_pieces)
        total = state.stream_total_s
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()  # HTTP/1.0: the body ends when the connection closes
        for index, delta in enumerate(deltas):
            time.sleep(state.stream_gap_s)
            done = round(total * (index + 1) / len(deltas), 3)
            event = {"type": "transcript.text.delta", "delta": delta, "done_s": done}
            self.wfile.write(b": keepalive\n\n" + sse({**event, "total_s": total}))
            self.wfile.flush()
            if index == 0 and fault is not None:
                if fault.startswith("error:"):
                    error = {"message": "the stream failed", "type": fault[len("error:") :]}
                    self.wfile.write(sse({"error": error}, "error"))
                    return
                if fault == "cut":
                    return
                if fault == "stall":
                    time.sleep(state.stall_s)
        done_event = {"type": "transcript.text.done", "text": "".join(deltas)}
        self.wfile.write(sse(done_event))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: StubState


class StubInference:
    """Context manager: one stub serving both routes on a free loopback port."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = StubState()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def state(self) -> StubState:
        return self._server.state

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail_next(self, status: int, times: int = 1) -> None:
        with self.state.lock:
            self.state.failures.extend([status] * times)

    def break_next_stream(self, fault: str, times: int = 1) -> None:
        """``error:<type>``, ``cut`` or ``stall`` (see the module docstring)."""
        with self.state.lock:
            self.state.stream_faults.extend([fault] * times)

    def __enter__(self) -> StubInference:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
