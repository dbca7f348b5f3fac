"""A small real HTTP server standing in for the ASR and OCR services in worker tests.

It speaks the two routes the worker uses (``POST /v1/audio/transcriptions`` and
``POST /v1/ocr``, multipart ``file``) with the services' error shape. Uploads whose bytes
start with ``CORRUPT`` get 415 like a real decoder would answer; ``fail_next`` queues
statuses (e.g. 503) for the next requests. Every upload is recorded.
"""

from __future__ import annotations

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


def _file_part(content_type: str, body: bytes) -> tuple[str, bytes] | None:
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            payload = part.get_payload(decode=True)
            return part.get_filename() or "", payload if isinstance(payload, bytes) else b""
    return None


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
        found = _file_part(self.headers.get("Content-Type", ""), body)
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

    def __enter__(self) -> StubInference:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
