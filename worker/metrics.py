"""Prometheus metrics of the worker, and its probes (served when ``METRICS_PORT`` is set).

``/metrics``, ``/livez`` (the consumer is making progress) and ``/readyz`` (the broker
answers) share one small threaded HTTP server, apart from the consumer loop.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import REGISTRY, Counter, Histogram, make_wsgi_app

TASKS = Counter("studysavvy_worker_tasks_total", "Tasks finished, by outcome", ["task", "outcome"])
RETRIES = Counter("studysavvy_worker_retries_total", "Retries scheduled", ["task"])
LLM_TOKENS = Counter("studysavvy_worker_llm_tokens_total", "LLM tokens spent", ["task", "kind"])
DURATION = Histogram(
    "studysavvy_worker_task_duration_seconds",
    "Wall time of a task run (one attempt)",
    ["task"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
)

Check = Callable[[], tuple[bool, dict[str, Any]]]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # probes every few seconds
        pass


def probe_app(checks: dict[str, Check]) -> WsgiApp:
    """``checks`` by path (``/livez``...), answered 200 or 503 with a JSON body; the rest
    is the Prometheus endpoint."""
    metrics = make_wsgi_app(REGISTRY)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        check = checks.get(environ.get("PATH_INFO", ""))
        if check is None:
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        ok, detail = check()
        body = json.dumps(detail).encode()
        status = "200 OK" if ok else "503 Service Unavailable"
        start_response(
            status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]

    return app


def serve(port: int, checks: dict[str, Check] | None = None, addr: str = "0.0.0.0") -> None:  # noqa: S104  # nosec B104 - scraped and probed from outside the pod
    if port <= 0:
        return
    server = make_server(
        addr, port, probe_app(checks or {}), server_class=_Server, handler_class=_QuietHandler
    )
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
