"""Prometheus metrics of the worker (served when ``METRICS_PORT`` is set)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram, start_http_server

TASKS = Counter("studysavvy_worker_tasks_total", "Tasks finished, by outcome", ["task", "outcome"])
RETRIES = Counter("studysavvy_worker_retries_total", "Retries scheduled", ["task"])
LLM_TOKENS = Counter("studysavvy_worker_llm_tokens_total", "LLM tokens spent", ["task", "kind"])
DURATION = Histogram(
    "studysavvy_worker_task_duration_seconds",
    "Wall time of a task run (one attempt)",
    ["task"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
)


def serve(port: int) -> None:
    if port > 0:
        start_http_server(port)
